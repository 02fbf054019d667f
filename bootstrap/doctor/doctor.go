// Package doctor holds lab's preflight checks as data: each Check has a
// category, a description, a hint and whether its failure is fatal. `lab
// doctor` prints them all; `lab up` runs the same list as its preflight and
// stops on a fatal failure.
package doctor

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"lab.dev/lab/core/config"
	"lab.dev/lab/nvidia"
)

// Status is the outcome of one check.
type Status string

// The statuses, in increasing order of trouble.
const (
	OK   Status = "ok"
	Skip Status = "skip" // not relevant for this lab
	Warn Status = "warn"
	Fail Status = "fail"
)

// Result is what a check found.
type Result struct {
	Status  Status `json:"status"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// Check is one preflight check. A failing check that is not Fatal is shown as
// a warning and does not fail the run.
type Check struct {
	ID          string `json:"id"`
	Category    string `json:"category"`
	Description string `json:"description"`
	Hint        string `json:"hint,omitempty"`
	Fatal       bool   `json:"fatal"`
	// Timeout, when longer than the run's bound for each check, is this
	// check's own: starting a container on a loaded host takes longer than
	// reading a file.
	Timeout time.Duration `json:"-"`
	// FatalWhen makes the check fatal for some labs only (a missing GPU is
	// fatal when GPU workers are requested).
	FatalWhen func(env *Env) bool                        `json:"-"`
	Run       func(ctx context.Context, env *Env) Result `json:"-"`
}

// Endpoint is a URL lab needs to reach (a chart repository, a registry).
type Endpoint struct {
	Name string
	URL  string
}

// Env is everything checks read: the lab, the host and the GPU.
type Env struct {
	Lab       *config.Lab
	Host      Host
	GPU       nvidia.Inspector
	HTTP      *http.Client
	Endpoints []Endpoint // probed unless Offline
	Offline   bool
	KwokBins  func() (string, error)                                      // resolves the kwok provider's binary folder
	Existing  func(ctx context.Context) (string, error)                   // reaches the existing cluster: where, or why not
	Terraform func(ctx context.Context) (path, version string, err error) // finds Terraform/OpenTofu and its version
	NodeImage string                                                      // the node image a privileged container is probed with (kind)
	// Made: this lab's cluster exists already (an up that resumes or finds
	// nothing to do): its nodes, images and model are on the disk the
	// checks measure, so they are not needed again.
	Made bool

	gpuOnce sync.Once
	gpuInfo nvidia.Info
	gpuErr  error

	engineOnce sync.Once
	engineInfo EngineInfo
	engineErr  error
}

// Engine asks the container engine once per run and shares the answer
// between checks (the engine, the toolkit and the privileged-container
// checks all read it).
func (e *Env) Engine(ctx context.Context) (EngineInfo, error) {
	e.engineOnce.Do(func() { e.engineInfo, e.engineErr = e.Host.Engine(ctx) })
	return e.engineInfo, e.engineErr
}

// GPUInfo inspects the GPU once per run and shares the answer between checks.
func (e *Env) GPUInfo() (nvidia.Info, error) {
	e.gpuOnce.Do(func() { e.gpuInfo, e.gpuErr = e.GPU.Inspect() })
	return e.gpuInfo, e.gpuErr
}

// Outcome is a check with its result, as printed and as JSON.
type Outcome struct {
	Check
	Result
	Elapsed time.Duration `json:"elapsedNs"`
}

// Report is the whole run.
type Report struct {
	Outcomes []Outcome `json:"checks"`
	Passed   bool      `json:"passed"`
	Warnings int       `json:"warnings"`
	Failures int       `json:"failures"`
}

// Run runs every check concurrently (each bounded by perCheck) and returns the
// outcomes in the order of checks. A Fail of a non-fatal check becomes Warn.
func Run(ctx context.Context, env *Env, checks []Check, perCheck time.Duration) Report {
	out := make([]Outcome, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bound := max(perCheck, c.Timeout)
			cctx, cancel := context.WithTimeout(ctx, bound)
			defer cancel()
			start := time.Now()
			r := runOne(cctx, env, c, bound)
			if c.FatalWhen != nil && c.FatalWhen(env) {
				c.Fatal = true
			}
			if r.Status == Fail && !c.Fatal {
				r.Status = Warn
			}
			out[i] = Outcome{Check: c, Result: r, Elapsed: time.Since(start)}
		}()
	}
	wg.Wait()
	rep := Report{Outcomes: out, Passed: true}
	for _, o := range out {
		switch o.Status {
		case Warn:
			rep.Warnings++
		case Fail:
			rep.Failures++
			rep.Passed = false
		}
	}
	return rep
}

// runOne runs c in its own goroutine so that a check that hangs past ctx or
// panics costs a result, not the run. A check that heeds ctx gets a moment
// to say where its time went.
func runOne(ctx context.Context, env *Env, c Check, bound time.Duration) Result {
	done := make(chan Result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- Result{Status: Fail, Message: fmt.Sprintf("check crashed: %v", p)}
			}
		}()
		done <- c.Run(ctx, env)
	}()
	var r Result
	select {
	case r = <-done:
		return r
	case <-ctx.Done():
		select {
		case r = <-done:
			if r.Status == Fail {
				r.Message = fmt.Sprintf("no answer within %s: %s", bound, r.Message)
			}
			return r
		case <-time.After(time.Second):
		}
		return Result{Status: Fail, Message: fmt.Sprintf("no answer within %s (%v)", bound, ctx.Err())}
	}
}

// Categories lists the categories of checks in display order.
func Categories(checks []Check) []string {
	seen := map[string]int{}
	for i, c := range checks {
		if _, ok := seen[c.Category]; !ok {
			seen[c.Category] = i
		}
	}
	cats := make([]string, 0, len(seen))
	for c := range seen {
		cats = append(cats, c)
	}
	sort.Slice(cats, func(i, j int) bool { return seen[cats[i]] < seen[cats[j]] })
	return cats
}
