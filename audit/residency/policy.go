package residency

import "fmt"

// Policy holds the choices a controller's DPO makes where the law leaves a call to make. It is read from the
// inventory's policy block; the zero value means the defaults below.
type Policy struct {
	// DPFMaxAgeDays: a Data Privacy Framework listing checked longer ago than this is stale (default 90).
	DPFMaxAgeDays int `json:"dpf_max_age_days"`
	// GeoIPMaxAgeDays: a GeoIP database built longer ago than this is a finding (default 45; GeoLite
	// corrections take one to two months).
	GeoIPMaxAgeDays int `json:"geoip_max_age_days"`
	// EEAPending: how to treat an adequacy decision not yet incorporated into the EEA Agreement.
	EEAPending EEAPendingPolicy `json:"eea_pending"`
	// SvalbardJanMayen: how to treat an address GeoIP places in SJ.
	SvalbardJanMayen SJPolicy `json:"svalbard_jan_mayen"`
}

// EEAPendingPolicy is the policy for adequacy decisions pending incorporation into the EEA Agreement.
type EEAPendingPolicy string

const (
	// EEAPendingRely: rely on the decision as the Commission applies it to EEA flows, with a low-severity
	// note (the default).
	EEAPendingRely EEAPendingPolicy = "rely"
	// EEAPendingNeedsReview: do not rely on it until the EEA Joint Committee decision binds Norway.
	EEAPendingNeedsReview EEAPendingPolicy = "needs_review"
)

// SJPolicy is the policy for ISO 3166-1 SJ (Svalbard and Jan Mayen). The EEA Agreement does not apply to
// Svalbard (EEA Agreement Protocol 40), Jan Mayen is not excluded, and GeoIP cannot tell them apart; whether
// and how Personopplysningsloven applies there follows from its § 4 and regulations under it. That is a legal
// call for the controller, so it is a setting.
type SJPolicy string

const (
	// SJNeedsReview: not shown compliant until the DPO has made the call (the default).
	SJNeedsReview SJPolicy = "needs_review"
	// SJNorway: treated as Norway (the controller has documented that the Act applies to its processing there).
	SJNorway SJPolicy = "norway"
	// SJThirdCountry: treated as outside the EEA, without adequacy: a transfer mechanism is required.
	SJThirdCountry SJPolicy = "third_country"
)

// Default policy values.
const (
	DefaultDPFMaxAgeDays   = 90
	DefaultGeoIPMaxAgeDays = 45
)

// WithDefaults fills unset fields.
func (p Policy) WithDefaults() Policy {
	if p.DPFMaxAgeDays == 0 {
		p.DPFMaxAgeDays = DefaultDPFMaxAgeDays
	}
	if p.GeoIPMaxAgeDays == 0 {
		p.GeoIPMaxAgeDays = DefaultGeoIPMaxAgeDays
	}
	if p.EEAPending == "" {
		p.EEAPending = EEAPendingRely
	}
	if p.SvalbardJanMayen == "" {
		p.SvalbardJanMayen = SJNeedsReview
	}
	return p
}

// Validate names the first field with a value the rules do not know.
func (p Policy) Validate() error {
	switch {
	case p.DPFMaxAgeDays < 0:
		return fmt.Errorf("policy dpf_max_age_days %d: must not be negative", p.DPFMaxAgeDays)
	case p.GeoIPMaxAgeDays < 0:
		return fmt.Errorf("policy geoip_max_age_days %d: must not be negative", p.GeoIPMaxAgeDays)
	}
	switch p.EEAPending {
	case "", EEAPendingRely, EEAPendingNeedsReview:
	default:
		return fmt.Errorf("policy eea_pending %q: want %s or %s", p.EEAPending, EEAPendingRely, EEAPendingNeedsReview)
	}
	switch p.SvalbardJanMayen {
	case "", SJNeedsReview, SJNorway, SJThirdCountry:
	default:
		return fmt.Errorf("policy svalbard_jan_mayen %q: want %s, %s or %s", p.SvalbardJanMayen, SJNeedsReview, SJNorway, SJThirdCountry)
	}
	return nil
}
