// Package agent is lab's SRE agent: `lab diagnose <pod>` and `lab agent
// serve`. Rules detect, the model explains: collect gathers evidence (each
// piece with a stable id), analyze runs the detectors, digest shrinks logs
// into a small redacted prompt, llm asks the local model for a grounded,
// schema-constrained explanation (retries, circuit breaker), report renders
// the result and remediate runs whitelisted fixes. With no model the report
// still comes out from the rules alone ("human-operator mode").
//
// Import order (checked by test/layers): collect, digest, llm, runbook and
// predict are leaves; analyze sits on collect (and on digest's redactor,
// through which every text that leaves passes); gitfix on analyze; report
// on those; memory and serve on report; this package composes them all.
package agent
