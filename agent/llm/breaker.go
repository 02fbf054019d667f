package llm

import (
	"errors"
	"sync"
	"time"
)

// ErrBreakerOpen is returned without calling the model while the breaker is open.
var ErrBreakerOpen = errors.New("LLM circuit breaker open: answering from rules alone")

// BreakerState is closed (calls flow), open (calls refused) or half-open
// (one trial call decides).
type BreakerState string

// States.
const (
	Closed   BreakerState = "closed"
	Open     BreakerState = "open"
	HalfOpen BreakerState = "half-open"
)

// Breaker opens when more than Ratio of the calls in the last Window failed
// (with at least MinRequests calls), stays open for Cooldown, then lets one
// trial call through.
type Breaker struct {
	Ratio       float64
	Window      time.Duration
	MinRequests int
	Cooldown    time.Duration
	Now         func() time.Time

	mu       sync.Mutex
	outcomes []outcome
	state    BreakerState
	openedAt time.Time
	trial    bool
}

type outcome struct {
	at time.Time
	ok bool
}

func (b *Breaker) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Allow reports whether a call may go out now.
func (b *Breaker) Allow() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.stateLocked() {
	case Open:
		return ErrBreakerOpen
	case HalfOpen:
		if b.trial {
			return ErrBreakerOpen
		}
		b.trial = true
	}
	return nil
}

// Record adds a call's outcome and opens or closes the breaker.
func (b *Breaker) Record(ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if b.stateLocked() == HalfOpen {
		b.trial = false
		if ok {
			b.state, b.outcomes = Closed, nil
		} else {
			b.state, b.openedAt = Open, now
		}
		return
	}
	b.outcomes = append(b.outcomes, outcome{at: now, ok: ok})
	b.prune(now)
	failed := 0
	for _, o := range b.outcomes {
		if !o.ok {
			failed++
		}
	}
	if len(b.outcomes) >= b.MinRequests && float64(failed) > b.Ratio*float64(len(b.outcomes)) {
		b.state, b.openedAt = Open, now
	}
}

// State is the breaker's state now.
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stateLocked()
}

func (b *Breaker) stateLocked() BreakerState {
	if b.state == "" {
		b.state = Closed
	}
	if b.state == Open && b.now().Sub(b.openedAt) >= b.Cooldown {
		b.state, b.trial = HalfOpen, false
	}
	return b.state
}

func (b *Breaker) prune(now time.Time) {
	i := 0
	for i < len(b.outcomes) && now.Sub(b.outcomes[i].at) > b.Window {
		i++
	}
	b.outcomes = b.outcomes[i:]
}
