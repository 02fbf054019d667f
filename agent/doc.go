// Package agent is lab's SRE agent: `lab diagnose <pod>` and `lab agent
// serve`. Rules detect, the model explains: collect gathers evidence (each
// piece with a stable id), analyze runs the detectors, digest shrinks logs
// into a small redacted prompt, llm asks the local model for a grounded,
// schema-constrained explanation (retries, circuit breaker), report renders
// the result and remediate runs whitelisted fixes. With no model the report
// still comes out from the rules alone ("human-operator mode").
package agent
