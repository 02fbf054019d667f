package llm

import (
	"context"
	"errors"
	"io"
	"math/rand"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ollama/ollama/api"
)

// Retry is jittered exponential backoff: delay n = Base × Multiplier^n, ±Jitter.
type Retry struct {
	Attempts   int
	Base       time.Duration
	Multiplier float64
	Jitter     float64
	Sleep      func(context.Context, time.Duration) error // for tests; default waits on ctx
	Rand       func() float64
}

// Delay is the wait before retry n (0 = the first retry).
func (r Retry) Delay(n int) time.Duration {
	d := float64(r.Base)
	for i := 0; i < n; i++ {
		d *= r.Multiplier
	}
	rnd := rand.Float64
	if r.Rand != nil {
		rnd = r.Rand
	}
	d *= 1 + r.Jitter*(2*rnd()-1)
	return time.Duration(d)
}

func (r Retry) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Retryable reports whether err is worth another try: 429, 5xx, timeouts,
// refused or reset connections, and streams cut short.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, ErrBadAnswer) {
		return false // a complete answer of the wrong shape comes back the same way
	}
	var se api.StatusError
	if errors.As(err, &se) {
		return se.StatusCode == http.StatusTooManyRequests || se.StatusCode >= 500
	}
	var ae api.AuthorizationError
	if errors.As(err, &ae) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	s := err.Error()
	for _, m := range []string{"connection refused", "connection reset", "EOF", "timeout", "broken pipe"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
