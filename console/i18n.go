package console

import (
	"fmt"
	"net/http"
	"time"

	"golang.org/x/text/language"

	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/job"
	"github.com/varde/varde/reports"
	"github.com/varde/varde/storage"
)

// The console speaks English and Norwegian bokmål. Messages are keyed by their English text; nb holds the
// bokmål for each (TestEveryMessageHasBokmal keeps it complete).

const langCookie = "varde_lang"

var (
	langs   = []language.Tag{language.English, language.MustParse("nb")}
	matcher = language.NewMatcher(langs)
)

// locale is one request's language.
type locale struct {
	Lang string // "en" or "nb"
}

// localeFor picks the language: the switch's cookie, else Accept-Language (nn and no count as nb).
func localeFor(r *http.Request) locale {
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == "en" || c.Value == "nb") {
		return locale{c.Value}
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	for i, t := range tags {
		if b, _ := t.Base(); b.String() == "no" || b.String() == "nn" {
			tags[i] = language.MustParse("nb")
		}
	}
	_, idx, conf := matcher.Match(tags...)
	if conf != language.No && idx == 1 {
		return locale{"nb"}
	}
	return locale{"en"}
}

// T translates a message.
func (l locale) T(msg string) string {
	if l.Lang == "nb" {
		if s, ok := nb[msg]; ok {
			return s
		}
	}
	if s, ok := en[msg]; ok {
		return s
	}
	return msg
}

// en gives the words stored as identifiers (verdicts, kinds) their English.
var en = map[string]string{
	string(residency.VerdictInEEA):             "in the EEA",
	string(residency.VerdictMechanismRequired): "transfer mechanism required",
	string(residency.VerdictNeedsReview):       "needs review",
	storage.KindAdHoc:                          "ad hoc",
	storage.KindSalesComparison:                "sales comparison",
}

// Tf translates a format and fills it in.
func (l locale) Tf(format string, args ...any) string { return fmt.Sprintf(l.T(format), args...) }

// Other is the language the switch offers.
func (l locale) Other() locale {
	if l.Lang == "nb" {
		return locale{"en"}
	}
	return locale{"nb"}
}

// Name is the language's own name.
func (l locale) Name() string {
	if l.Lang == "nb" {
		return "Norsk bokmål"
	}
	return "English"
}

// Time formats a time for the reader, in UTC unless a zone is given.
func (l locale) Time(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// TimeIn formats a time in its own location, with the zone's name and offset.
func (l locale) TimeIn(t time.Time) string {
	return t.Format("2006-01-02 15:04 MST (-07:00)") + " " + l.T(t.Weekday().String())
}

func (h *Handler) setLang(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("to")
	if to != "en" && to != "nb" {
		to = "en"
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: to, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: secureCookie(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, localPath(r.URL.Query().Get("back")), http.StatusSeeOther)
}

var nb = map[string]string{
	// Layout and navigation.
	"varde console":          "varde-konsoll",
	"Skip to content":        "Gå til innholdet",
	"Dashboard":              "Oversikt",
	"Audits":                 "Revisjoner",
	"Schedules":              "Tidsplaner",
	"Sign in":                "Logg inn",
	"Sign out":               "Logg ut",
	"Signed in as %s (%s)":   "Logget inn som %s (%s)",
	"Language":               "Språk",
	"Main":                   "Hoved",
	"viewer":                 "leser",
	"operator":               "operatør",
	"admin":                  "administrator",
	"There is no such page.": "Siden finnes ikke.",
	"Something went wrong on the server; it is logged.":                                  "Noe gikk galt på tjeneren; det er logget.",
	"Cross-origin request refused: this form must be sent from the console's own pages.": "Forespørsel fra annet opphav avvist: skjemaet må sendes fra konsollets egne sider.",
	"Your token lacks the scope %s for this page.":                                       "Tokenet ditt mangler tilgangen %s for denne siden.",
	"Error":                       "Feil",
	"Back to the dashboard":       "Tilbake til oversikten",
	"The form could not be read.": "Skjemaet kunne ikke leses.",
	"This page works without JavaScript; with it, filters update in place.": "Siden virker uten JavaScript; med det oppdateres filtrene på stedet.",

	// Sign-in.
	"API token":                      "API-token",
	"Paste an API token to sign in.": "Lim inn et API-token for å logge inn.",
	"That token is not valid: it is unknown, expired or revoked.":                                                                                    "Tokenet er ikke gyldig: det er ukjent, utløpt eller tilbakekalt.",
	"That token lacks the scope %s, which the console needs.":                                                                                        "Tokenet mangler tilgangen %s, som konsollet trenger.",
	"Sign in with an API token. Your role follows its scopes: viewer (audits:read), operator (audits:run or schedules:write), admin (tokens:admin).": "Logg inn med et API-token. Rollen din følger tilgangene: leser (audits:read), operatør (audits:run eller schedules:write), administrator (tokens:admin).",
	"The session is kept on the server and ends when you sign out, after eight hours, or when the token is revoked.":                                 "Økten lagres på tjeneren og slutter når du logger ut, etter åtte timer, eller når tokenet tilbakekalles.",

	// Dashboard.
	"Each schedule's last audit": "Siste revisjon for hver tidsplan",
	"Schedule":                   "Tidsplan",
	"Last audit":                 "Siste revisjon",
	"Headline":                   "Hovedresultat",
	"Next run":                   "Neste kjøring",
	"Failing":                    "Feiler",
	"No schedules yet.":          "Ingen tidsplaner ennå.",
	"Latest audits":              "Siste revisjoner",
	"Needs attention":            "Trenger oppfølging",
	"Nothing is failing.":        "Ingenting feiler.",
	"never run":                  "aldri kjørt",
	"Last run":                   "Siste kjøring",
	string(storage.RunQueued):    "i kø",
	"The schedule service is not available in this server: schedules cannot be shown or changed here.": "Tidsplantjenesten er ikke tilgjengelig på denne tjeneren: tidsplaner kan ikke vises eller endres her.",
	"%d compliant":           "%d i samsvar",
	"%d not compliant":       "%d ikke i samsvar",
	"%d not shown compliant": "%d ikke vist i samsvar",
	"no data stores judged":  "ingen datalagre vurdert",
	"step %s %s":             "steg %s %s",
	"audit %s":               "revisjon %s",

	// Audit list.
	"Filter audits":                   "Filtrer revisjoner",
	"Status":                          "Status",
	"Kind":                            "Type",
	"Organisation":                    "Organisasjon",
	"Started from":                    "Startet fra",
	"Started before":                  "Startet før",
	"any":                             "alle",
	"Filter":                          "Filtrer",
	"Clear":                           "Nullstill",
	"Audit":                           "Revisjon",
	"Started":                         "Startet",
	"Finished":                        "Ferdig",
	"Duration":                        "Varighet",
	"Period":                          "Periode",
	"No audits match.":                "Ingen revisjoner passer.",
	"Showing the newest %d.":          "Viser de %d nyeste.",
	string(storage.StatusRunning):     "kjører",
	string(storage.StatusSucceeded):   "fullført",
	string(storage.StatusPartial):     "delvis",
	string(storage.StatusFailed):      "feilet",
	string(storage.StatusInterrupted): "avbrutt",
	string(job.StepSkipped):           "hoppet over",
	storage.KindQuarterly:             "kvartalsvis",
	storage.KindAdHoc:                 "ad hoc",
	storage.KindSalesComparison:       "salgssammenligning",
	"A date is not in the form YYYY-MM-DD: %s": "En dato er ikke på formen ÅÅÅÅ-MM-DD: %s",

	// Audit page.
	"Audit %d":                     "Revisjon %d",
	"Steps":                        "Steg",
	"Step":                         "Steg",
	"Message":                      "Melding",
	"Evidence chain":               "Bevisrekke",
	"Check the evidence chain":     "Kontroller bevisrekken",
	"Checking the evidence chain…": "Kontrollerer bevisrekken …",
	"The chain holds":              "Rekken holder",
	"The chain is broken":          "Rekken er brutt",
	"%d rows recomputed, head %s":  "%d rader beregnet på nytt, topp %s",
	"First bad row: %s":            "Første feil rad: %s",
	"Sealed in the evidence log as leaf %d of %d.": "Forseglet i bevisloggen som blad %d av %d.",
	"Not sealed in the evidence log.":              "Ikke forseglet i bevisloggen.",
	"Checkpoint":                                   "Sjekkpunkt",
	"Signed checkpoint %s: %d leaves, root %s.":    "Signert sjekkpunkt %s: %d blader, rot %s.",
	"No signed checkpoint covers the seal yet.":    "Ingen signert sjekkpunkt dekker forseglingen ennå.",
	"Findings":                          "Funn",
	"Filter findings":                   "Filtrer funn",
	"Verdict":                           "Vurdering",
	"Severity":                          "Alvorlighet",
	"Rule":                              "Regel",
	"Compliance":                        "Samsvar",
	"not compliant":                     "ikke i samsvar",
	"compliant":                         "i samsvar",
	"not shown compliant":               "ikke vist i samsvar",
	"(no verdict)":                      "(ingen vurdering)",
	"Subject":                           "Gjelder",
	"Summary":                           "Sammendrag",
	"Evidence":                          "Bevis",
	"Legal reference":                   "Rettslig grunnlag",
	"No findings match.":                "Ingen funn passer.",
	"%d of %d findings match.":          "%d av %d funn passer.",
	"Next page":                         "Neste side",
	"Residency map":                     "Lokasjonskart",
	"Latency comparison":                "Forsinkelsessammenligning",
	"Reports":                           "Rapporter",
	"Tool":                              "Verktøy",
	"Rules":                             "Regler",
	string(reports.VerdictViolation):    "brudd",
	string(reports.VerdictWarning):      "advarsel",
	string(reports.VerdictInconclusive): "uavklart",
	string(reports.VerdictPass):         "bestått",
	string(reports.SeverityInfo):        "info",
	string(reports.SeverityLow):         "lav",
	string(reports.SeverityMedium):      "middels",
	string(reports.SeverityHigh):        "høy",
	string(reports.SeverityCritical):    "kritisk",
	string(residency.VerdictInEEA):      "i EØS",
	string(residency.VerdictAdequate):   "tilstrekkelig beskyttelsesnivå",
	string(residency.VerdictMechanismRequired): "overføringsgrunnlag kreves",
	string(residency.VerdictNeedsReview):       "må vurderes",
	string(residency.VerdictUnknown):           "ukjent",

	// Map.
	"Residency map of audit %d":                                      "Lokasjonskart for revisjon %d",
	"Data stores at their located countries, vantages and RTT discs": "Datalagre i landene de ble lokalisert til, målepunkter og RTT-sirkler",
	"Data store":  "Datalager",
	"Data stores": "Datalagre",
	"Not on the map, located in no country: %s.": "Ikke på kartet, ikke lokalisert til noe land: %s.",
	"Checked at %s.":                         "Kontrollert %s.",
	"Check again":                            "Kontroller på nytt",
	"The seal matches the recomputed chain.": "Forseglingen stemmer med den nyberegnede rekken.",
	"The seal does not match the recomputed chain: evidence changed after it was sealed.": "Forseglingen stemmer ikke med den nyberegnede rekken: bevis er endret etter forseglingen.",
	"The log in the database grew from it.":                                               "Loggen i databasen har vokst fra det.",
	"Countries":                                                                           "Land",
	"Addresses":                                                                           "Adresser",
	"Vantage":                                                                             "Målepunkt",
	"Vantages":                                                                            "Målepunkter",
	"RTT disc":                                                                            "RTT-sirkel",
	"RTT discs":                                                                           "RTT-sirkler",
	"Legend":                                                                              "Tegnforklaring",
	"Each disc is where an answering endpoint can be at the speed of light, from the smallest RTT measured to it from a vantage; it shows where the endpoint is, not where the data is.": "Hver sirkel er området et svarende endepunkt kan være innenfor ved lysets hastighet, ut fra den minste RTT målt fra et målepunkt; den viser hvor endepunktet er, ikke hvor dataene er.",
	"This audit judged no data stores.": "Denne revisjonen vurderte ingen datalagre.",
	"%s: %.0f km (min RTT %s ms to %s)": "%s: %.0f km (min RTT %s ms til %s)",
	"Physics":                           "Fysikk",
	"Boundaries: %s.":                   "Grenser: %s.",

	// Latency.
	"Latency comparison of audit %d": "Forsinkelsessammenligning for revisjon %d",
	"From %s":                        "Fra %s",
	"ICMP round-trip time and TCP handshake time, milliseconds (shorter is better)": "ICMP tur-retur-tid og TCP-håndtrykktid, millisekunder (kortere er bedre)",
	"Target":            "Mål",
	"Host":              "Vert",
	"ICMP p50 ms":       "ICMP p50 ms",
	"ICMP p95 ms":       "ICMP p95 ms",
	"ICMP samples":      "ICMP-prøver",
	"TCP p50 ms":        "TCP p50 ms",
	"TCP p95 ms":        "TCP p95 ms",
	"TCP samples":       "TCP-prøver",
	"ICMP RTT p50":      "ICMP RTT p50",
	"ICMP RTT p95":      "ICMP RTT p95",
	"TCP handshake p50": "TCP-håndtrykk p50",
	"TCP handshake p95": "TCP-håndtrykk p95",
	"This audit has no latency measurements.":                              "Denne revisjonen har ingen forsinkelsesmålinger.",
	"The same figures as the sales PDF, computed from the stored samples.": "Samme tall som salgs-PDF-en, beregnet fra de lagrede prøvene.",
	"n/a":    "i.a.",
	"Method": "Metode",

	// Reports.
	"Reports of audit %d":                  "Rapporter for revisjon %d",
	"Report":                               "Rapport",
	"Created":                              "Laget",
	"Signature":                            "Signatur",
	"Download PDF":                         "Last ned PDF",
	"compliance":                           "samsvar",
	"sales":                                "salg",
	"valid":                                "gyldig",
	"signature intact, signer not trusted": "signaturen er intakt, men signereren er ikke klarert",
	"invalid":                              "ugyldig",
	"not verified: %s":                     "ikke kontrollert: %s",
	"Signed by %s, level %s.":              "Signert av %s, nivå %s.",
	"No reports were made of this audit.":  "Det er ikke laget rapporter av denne revisjonen.",
	"The PDF file does not match the sha256 its report row records.": "PDF-filen stemmer ikke med sha256 som rapportraden oppgir.",
	"The PDF file could not be read: %s":                             "PDF-filen kunne ikke leses: %s",

	// Schedules.
	"New schedule":    "Ny tidsplan",
	"Edit schedule":   "Endre tidsplan",
	"Name":            "Navn",
	"Audit config":    "Revisjonsoppsett",
	"Cron expression": "Cron-uttrykk",
	"Time zone":       "Tidssone",
	"Enabled":         "Aktiv",
	"yes":             "ja",
	"no":              "nei",
	"Edit":            "Endre",
	"Start now":       "Start nå",
	"Save":            "Lagre",
	"Show next runs":  "Vis neste kjøringer",
	"Next four runs":  "De fire neste kjøringene",
	"Next four runs, in the schedule's time zone (%s), before saving:":                                                                                  "De fire neste kjøringene i tidsplanens tidssone (%s), før lagring:",
	"A cron expression with five fields, or @quarterly, @monthly, @weekly, @daily. Example: 0 6 1 1,4,7,10 * (06:00 on the first day of each quarter).": "Et cron-uttrykk med fem felt, eller @quarterly, @monthly, @weekly, @daily. Eksempel: 0 6 1 1,4,7,10 * (kl. 06.00 første dag i hvert kvartal).",
	"An IANA time zone, such as Europe/Oslo.":                                                                                                           "En IANA-tidssone, som Europe/Oslo.",
	"Saved schedule %s.":                    "Lagret tidsplanen %s.",
	"Started audit run %s for schedule %s.": "Startet revisjonskjøring %s for tidsplanen %s.",
	"Not saved: %s":                         "Ikke lagret: %s",
	"Invalid schedule: %s":                  "Ugyldig tidsplan: %s",
	"Could not start: %s":                   "Kunne ikke starte: %s",
	"Time zone %q is not known.":            "Tidssonen %q er ukjent.",
	"Give the schedule a name.":             "Gi tidsplanen et navn.",
	"Choose an audit config.":               "Velg et revisjonsoppsett.",
	"Monday":                                "mandag",
	"Tuesday":                               "tirsdag",
	"Wednesday":                             "onsdag",
	"Thursday":                              "torsdag",
	"Friday":                                "fredag",
	"Saturday":                              "lørdag",
	"Sunday":                                "søndag",
	// Agents.
	"Agents": "Agenter",
	"Remote agents are not available in this server.":                                                                "Fjernagenter er ikke tilgjengelige på denne tjeneren.",
	"An agent is live when the server heard from it (any signed request, waiting for work included) in the last %s.": "En agent er i live når tjeneren har hørt fra den (enhver signert forespørsel, også når den venter på arbeid) de siste %s.",
	"No live agent at %s. An audit measuring from such a vantage now would record it as vantage_unavailable.":        "Ingen levende agent på %s. En revisjon som måler fra et slikt målepunkt nå, ville registrere det som vantage_unavailable.",
	"Live agents":           "Levende agenter",
	"Last audit task":       "Siste revisjonsoppgave",
	"Monitoring":            "Overvåking",
	"Open enrolment tokens": "Åpne innrulleringstokener",
	"%d of %d":              "%d av %d",
	"none":                  "ingen",
	"every %s":              "hvert %s",
	"No vantages yet: an admin enrols an agent with varde agent token --vantage NAME.": "Ingen målepunkter ennå: en administrator rullerer inn en agent med varde agent token --vantage NAVN.",
	"Enrolled agents":         "Innrullerte agenter",
	"Agent":                   "Agent",
	"Last seen":               "Sist hørt fra",
	"Version":                 "Versjon",
	"Clock":                   "Klokke",
	"Enrolled":                "Innrullert",
	"Revoke":                  "Tilbakekall",
	"Revoke…":                 "Tilbakekall …",
	"since %s":                "siden %s",
	"never":                   "aldri",
	"(enrolled with %s)":      "(innrullert med %s)",
	"reported %s":             "rapportert %s",
	"No agents are enrolled.": "Ingen agenter er innrullert.",
	"Agent %s revoked: its requests are refused from now on.": "Agent %s er tilbakekalt: forespørslene dens avvises fra nå av.",
	"Agent %d is already revoked, since %s.":                  "Agent %d er allerede tilbakekalt, siden %s.",
	"Not revoked: %s":                                         "Ikke tilbakekalt: %s",
	"Revoke agent":                                            "Tilbakekall agent",
	"Revoke agent %s #%d":                                     "Tilbakekall agent %s #%d",
	"Revoke agent %d":                                         "Tilbakekall agent %d",
	"Cancel":                                                  "Avbryt",
	"Revocation is final: the agent's requests are refused from now on, and a lease it holds goes to another agent of its vantage when it expires. It is what varde agent revoke does.": "Tilbakekalling er endelig: agentens forespørsler avvises fra nå av, og et lån den har, går til en annen agent på samme målepunkt når det utløper. Det er det samme som varde agent revoke gjør.",
	"ahead of this server's clock":         "foran tjenerens klokke",
	"%s ago":                               "for %s siden",
	"%d s":                                 "%d s",
	"%d min":                               "%d min",
	"%d h":                                 "%d t",
	"%d days":                              "%d døgn",
	"maximum error %s, estimated error %s": "største feil %s, anslått feil %s",
	"adjtimex state %d, status %#x":        "adjtimex-tilstand %d, status %#x",
	"live":                                 "i live",
	"stale":                                "taus",
	"never seen":                           "aldri hørt fra",
	"revoked":                              "tilbakekalt",
	"synchronised":                         "synkronisert",
	"not synchronised":                     "ikke synkronisert",
	"unavailable":                          "utilgjengelig",
	"not reported yet":                     "ikke rapportert ennå",
	"has a live agent":                     "har en levende agent",
	"no live agent":                        "ingen levende agent",
	"measured":                             "målt",
	"vantage_unavailable":                  "målepunkt utilgjengelig (vantage_unavailable)",
	"measuring":                            "måler",
	"waiting for an agent":                 "venter på en agent",
}
