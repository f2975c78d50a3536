// Package residency judges where a data store's personal data really is against the transfer rules that bind
// a Norwegian controller: the GDPR as Norwegian law (Personopplysningsloven § 1, LOV-2018-06-15-38), its
// Chapter V (Art. 44-49), a dated table of EEA states and adequacy decisions, and a speed-of-light check of
// each GeoIP answer against measured round-trip times.
//
// The rules (Judge*, ClassifyPhysics, RulesAt) are pure functions from observations to findings. Loading the
// inventory (LoadInventory) and gathering observations (Audit, through the small Resolver, Locator,
// CloudLocator and RTTSource interfaces declared here) are kept apart so that the CLI and the scheduled audit
// job share the same flow.
//
// Verdicts are what a data protection officer can sign: a store is compliant, not compliant (a transfer
// without a valid basis), or not shown compliant (location unknown, anycast, or needs review), because
// GDPR Art. 5(2) puts the burden of showing on the controller. A GeoIP answer that physics excludes is
// "needs review" with both answers; the discs' countries never replace it, since they place the endpoint
// that answered and not the data. The legal facts, their sources and the dates they were checked are in
// docs/residency-legal.md; the choices the law leaves to the controller (Svalbard and Jan Mayen, decisions
// pending in the EEA, DPF and GeoIP staleness) are the inventory's policy block (Policy).
package residency
