package serve

import (
	"testing"
	"time"
)

// --dedupe 0 means "diagnose every alert" (it used to become 10 minutes);
// the defaults still de-duplicate; a zero that cannot work takes the default.
func TestOptionsKeepMeaningfulZeros(t *testing.T) {
	tg := Target{Namespace: "ns", Pod: "p"}
	s := New(Options{Dedupe: 0}, nil, NewMetrics())
	if a, b := s.Accept(tg), s.Accept(tg); a != "accepted" || b != "accepted" {
		t.Errorf("Dedupe 0: %s, %s; want both accepted", a, b)
	}
	s = New(DefaultOptions(), nil, NewMetrics())
	if a, b := s.Accept(tg), s.Accept(tg); a != "accepted" || b != "duplicate" {
		t.Errorf("defaults: %s, %s; want accepted, duplicate", a, b)
	}
	if s.opts.Dedupe != 10*time.Minute {
		t.Errorf("default dedupe %s", s.opts.Dedupe)
	}
	s = New(Options{Concurrency: -1, Queue: 0}, nil, NewMetrics())
	if s.opts.Concurrency != 2 || cap(s.queue) != 100 || s.opts.Timeout != 3*time.Minute {
		t.Errorf("unusable zeros not defaulted: %+v", s.opts)
	}
}
