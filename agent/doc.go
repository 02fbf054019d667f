// Package agent is lab's SRE agent: `lab diagnose <pod>` and `lab agent
// serve`. Rules detect, the model explains: collect gathers evidence (each
// piece with a stable id), analyze runs the detectors, digest shrinks logs
// into a small redacted prompt, llm asks the local model for a grounded,
// schema-constrained explanation (retries, circuit breaker), report renders
// the result and remediate runs whitelisted fixes. With no model the report
// still comes out from the rules alone ("human-operator mode").
//
// Import order (checked by test/layers): redact first — the one secret
// masker: collect redacts what it gathers before anything reads it, the
// digest every log line — then collect, digest, llm, runbook and predict;
// analyze sits on collect; gitfix on analyze; report on those; memory and
// serve on report; this package composes them all.
package agent
