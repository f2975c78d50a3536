// Package residency judges where a data store's personal data really is against the transfer rules that bind
// a Norwegian controller: the GDPR as Norwegian law (Personopplysningsloven § 1, LOV-2018-06-15-38), its
// Chapter V (Art. 44-49), a dated table of EEA states and adequacy decisions, and a speed-of-light check of
// each GeoIP answer against measured round-trip times.
//
// The rules (Judge*, ClassifyPhysics, RulesAt) are pure functions from observations to findings. Loading the
// inventory (LoadInventory) and gathering observations (Audit, through the small Resolver, Locator,
// CloudLocator and RTTSource interfaces declared here) are kept apart so that the CLI and the scheduled audit
// job share the same flow.
package residency
