// Package reports renders varde's PDF reports from stored evidence: the quarterly compliance report
// (the evidence handed to Datatilsynet) and the sales latency comparison.
//
// Reports read only what storage holds: the caller fills a plain model (ComplianceModel, SalesModel)
// from Postgres and this package turns it into PDF bytes. Output is deterministic: the same model and
// the same Options.Now give byte-identical PDFs (no random IDs, fixed producer, dates from the clock),
// so a report can be made again from the evidence alone and compared.
//
// Every page is A4 portrait (PageWidthPt × PageHeightPt, 595.28 × 841.89 pt; margins MarginMM).
// Signing (package reports/sign) adds its signature widget to page 1 as an incremental update; the
// layout leaves no dedicated box for it, the widget is small or invisible.
package reports
