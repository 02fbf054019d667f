package stacks

import (
	"context"

	"errors"
	"fmt"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sort"
	"sync"
	"time"
)

// Plan is one stack to install: its releases in order (CRDs first) after
// the stacks it depends on are ready.
type Plan struct {
	Name      string
	DependsOn []string
	Objects   []*unstructured.Unstructured // server-side applied before the releases
	Releases  []Release
}

// Result is what happened to one stack.
type Result struct {
	Stack    string        `json:"stack"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"durationNs"`
	Outcomes []Outcome     `json:"outcomes"`
	Err      error         `json:"-"`
	Error    string        `json:"error,omitempty"`
}

// ErrCycle is returned for dependency cycles and unknown dependencies.
var ErrCycle = errors.New("invalid stack dependencies")

// Order returns the plans in a dependency-respecting order, or ErrCycle.
func Order(plans []Plan) ([]Plan, error) {
	byName := map[string]Plan{}
	for _, p := range plans {
		byName[p.Name] = p
	}
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var out []Plan
	var visit func(string, []string) error
	visit = func(n string, path []string) error {
		p, ok := byName[n]
		if !ok {
			return fmt.Errorf("%w: %s depends on unknown stack %s", ErrCycle, path[len(path)-1], n)
		}
		switch state[n] {
		case 1:
			return fmt.Errorf("%w: cycle %v → %s", ErrCycle, path, n)
		case 2:
			return nil
		}
		state[n] = 1
		deps := append([]string{}, p.DependsOn...)
		sort.Strings(deps)
		for _, d := range deps {
			if err := visit(d, append(path, n)); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, p)
		return nil
	}
	for _, p := range plans {
		if err := visit(p.Name, []string{p.Name}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// InstallAll ensures every plan. In parallel mode each stack starts as soon
// as its dependencies are ready, so independent stacks install together; a
// failed stack skips its dependents and the others go on. onDone is called
// as each stack finishes.
func (in *Installer) InstallAll(ctx context.Context, plans []Plan, parallel bool, onDone func(Result)) ([]Result, error) {
	ordered, err := Order(plans)
	if err != nil {
		return nil, err
	}
	run := func(p Plan) Result {
		r := Result{Stack: p.Name, Start: time.Now()}
		if len(p.Objects) > 0 {
			if err := in.applyObjects(ctx, p.Objects); err != nil {
				r.Err, r.Error, r.Duration = err, err.Error(), time.Since(r.Start)
				return r
			}
		}
		for _, rel := range p.Releases {
			o, err := in.Ensure(ctx, rel)
			r.Outcomes = append(r.Outcomes, o)
			if err != nil {
				r.Err = fmt.Errorf("stack %s: %w", p.Name, err)
				break
			}
		}
		r.Duration = time.Since(r.Start)
		if r.Err != nil {
			r.Error = r.Err.Error()
		}
		if onDone != nil {
			onDone(r)
		}
		return r
	}
	results := make([]Result, len(ordered))
	if !parallel {
		failed := map[string]bool{}
		for i, p := range ordered {
			if dep := firstFailed(p.DependsOn, failed); dep != "" {
				results[i] = skipped(p, dep)
				failed[p.Name] = true
				continue
			}
			results[i] = run(p)
			failed[p.Name] = results[i].Err != nil
		}
		return results, joinErrs(results)
	}
	done := map[string]chan struct{}{}
	var mu sync.Mutex
	failed := map[string]bool{}
	for _, p := range ordered {
		done[p.Name] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i, p := range ordered {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[p.Name])
			for _, d := range p.DependsOn {
				<-done[d]
			}
			mu.Lock()
			dep := firstFailed(p.DependsOn, failed)
			mu.Unlock()
			var r Result
			if dep != "" {
				r = skipped(p, dep)
			} else {
				r = run(p)
			}
			mu.Lock()
			failed[p.Name] = r.Err != nil
			results[i] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results, joinErrs(results)
}

func firstFailed(deps []string, failed map[string]bool) string {
	for _, d := range deps {
		if failed[d] {
			return d
		}
	}
	return ""
}

func skipped(p Plan, dep string) Result {
	err := fmt.Errorf("stack %s: skipped because %s failed", p.Name, dep)
	return Result{Stack: p.Name, Start: time.Now(), Err: err, Error: err.Error()}
}

func joinErrs(rs []Result) error {
	var errs []error
	for _, r := range rs {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return errors.Join(errs...)
}
