package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"lab.dev/lab/test/harness"
)

// AlertsResult is the alert path of `lab agent serve` (the real binary,
// rules only, against a harness control plane), journal on local disk.
type AlertsResult struct {
	Pods int `json:"pods"`
	// Intake only (diagnoses held back): alerts accepted per second by 16
	// concurrent senders, one alert per POST, and the latency of a POST.
	IntakeAlerts int     `json:"intakeAlerts"`
	IntakePerSec float64 `json:"intakePerSec"`
	IntakeP50ms  float64 `json:"intakeP50ms"`
	IntakeP99ms  float64 `json:"intakeP99ms"`
	// End to end: a burst of alerts to every report written (4 workers,
	// no rate limit).
	E2EAlerts     int     `json:"e2eAlerts"`
	ReportsPerSec float64 `json:"reportsPerSec"`
	// A 10× burst (10 × --queue alerts at once) against a server whose
	// diagnoses are rate-limited: the sender gets 503s and retries; RSS
	// idle and at its peak.
	BurstAlerts  int     `json:"burstAlerts"`
	Burst503     int64   `json:"burst503"`
	IdleRSSMiB   float64 `json:"idleRssMiB"`
	BurstRSSMiB  float64 `json:"burstPeakRssMiB"`
	BurstSeconds float64 `json:"burstSeconds"`
	// Random SIGKILLs during a burst: alerts that got a 2xx and no report
	// (lost) or more than one (duplicates).
	Kills      int `json:"kills"`
	KillAlerts int `json:"killAlerts"`
	Lost       int `json:"lost"`
	Duplicates int `json:"duplicates"`
	// Steady alerts for Soak: RSS sampled every 10 s.
	Soak       string    `json:"soak"`
	SoakRate   float64   `json:"soakPerSec"`
	SoakRSSMiB []float64 `json:"soakRssMiB"`
}

func runAlerts(ctx context.Context, lab string, soak time.Duration) AlertsResult {
	c, err := harness.Start(ctx, harness.Options{Nodes: harness.ScenarioNodes()})
	check(err)
	defer c.Stop()
	const ns, pods = "alerts-bench", 200
	c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	for i := 0; i < pods; i++ {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("b-%03d", i)}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "w", Image: "registry.local/w:1"}}}}
		_, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		check(err)
	}
	home, err := os.MkdirTemp("", "lab-alerts-bench-")
	check(err)
	defer os.RemoveAll(home)
	cfg := filepath.Join(home, "lab.yaml")
	check(os.WriteFile(cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: bench}\nagent: {namespaces: ["+ns+"]}\n"), 0o644))
	run := 0
	server := func(args ...string) (*harness.AgentServer, string) {
		run++
		reports := filepath.Join(home, fmt.Sprint("reports-", run))
		s := &harness.AgentServer{Bin: lab, Env: []string{"LAB_HOME=" + home, "NO_COLOR=1"},
			Args: append([]string{"-c", cfg, "--insecure-no-auth", "--no-llm", "--journal", filepath.Join(home, fmt.Sprint("journal-", run)),
				"--reports", reports, "--dedupe", "0", "--predict-every", "0", "--kubeconfig", c.Kubeconfig}, args...)}
		check(s.Start())
		return s, reports
	}
	id := 0
	burst := func(s *harness.AgentServer, n, senders int, every time.Duration) ([]time.Duration, *harness.Sender) {
		send := &harness.Sender{URL: s.URL()}
		lat := make([]time.Duration, n)
		next := make(chan int)
		var wg sync.WaitGroup
		startsAt := time.Now().UTC()
		base := id
		id += n
		for w := 0; w < senders; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					d, err := send.Send(ctx, harness.AlertBody(ns, fmt.Sprintf("b-%03d", i%pods), base+i, startsAt))
					check(err)
					lat[i] = d
				}
			}()
		}
		for i := 0; i < n; i++ {
			next <- i
			if every > 0 {
				time.Sleep(every)
			}
		}
		close(next)
		wg.Wait()
		return lat, send
	}
	waitReports := func(dir string, n int, limit time.Duration) int {
		deadline := time.Now().Add(limit)
		for {
			got := 0
			for _, c := range harness.ReportsPerPod(dir, ns) {
				got += c
			}
			if got >= n || time.Now().After(deadline) {
				return got
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	var r AlertsResult
	r.Pods = pods

	// Intake only: a queue that takes everything, diagnoses held back.
	s, _ := server("--queue", "5000", "--rate", "0.001", "--burst", "1", "--concurrency", "1")
	r.IntakeAlerts = 3000
	t0 := time.Now()
	lat, _ := burst(s, r.IntakeAlerts, 16, 0)
	r.IntakePerSec = float64(r.IntakeAlerts) / time.Since(t0).Seconds()
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	r.IntakeP50ms = float64(lat[len(lat)/2].Microseconds()) / 1000
	r.IntakeP99ms = float64(lat[len(lat)*99/100].Microseconds()) / 1000
	s.Kill()

	// End to end, rules only.
	s, reports := server("--queue", "1000", "--rate", "1000", "--burst", "100", "--concurrency", "4")
	r.E2EAlerts = 400
	t0 = time.Now()
	burst(s, r.E2EAlerts, 16, 0)
	waitReports(reports, r.E2EAlerts, 5*time.Minute)
	r.ReportsPerSec = float64(r.E2EAlerts) / time.Since(t0).Seconds()
	s.Kill()

	// A 10× burst on the default queue (100) with diagnoses at 20/s.
	s, reports = server("--queue", "100", "--rate", "20", "--burst", "5", "--concurrency", "2")
	time.Sleep(time.Second)
	r.IdleRSSMiB = mib(s.RSS())
	r.BurstAlerts = 1000
	var peak int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				peak = max(peak, s.RSS())
			}
		}
	}()
	t0 = time.Now()
	_, send := burst(s, r.BurstAlerts, 50, 0)
	waitReports(reports, r.BurstAlerts, 5*time.Minute)
	r.BurstSeconds = time.Since(t0).Seconds()
	close(stop)
	r.BurstRSSMiB, r.Burst503 = mib(peak), send.Got503.Load()
	s.Kill()

	// Random kills during a burst.
	rng := rand.New(rand.NewPCG(7, 7))
	s, reports = server("--queue", "20", "--rate", "20", "--burst", "2", "--concurrency", "2")
	r.Kills, r.KillAlerts = 20, pods
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); burst(s, r.KillAlerts, 8, 25*time.Millisecond) }()
	for k := 0; k < r.Kills; k++ {
		time.Sleep(time.Duration(100+rng.IntN(600)) * time.Millisecond)
		s.Kill()
		check(s.Start())
	}
	wg.Wait()
	waitReports(reports, r.KillAlerts, 5*time.Minute)
	time.Sleep(time.Second) // a late duplicate would show now
	per := harness.ReportsPerPod(reports, ns)
	for i := 0; i < pods; i++ {
		switch c := per[fmt.Sprintf("b-%03d", i)]; {
		case c == 0:
			r.Lost++
		case c > 1:
			r.Duplicates += c - 1
		}
	}
	s.Kill()

	// Soak: steady alerts, RSS every 10 s.
	if soak > 0 {
		s, _ = server("--queue", "100", "--rate", "50", "--burst", "5", "--concurrency", "2")
		r.Soak, r.SoakRate = soak.String(), 20
		end := time.Now().Add(soak)
		next := time.Now()
		for time.Now().Before(end) {
			burst(s, 200, 4, 50*time.Millisecond) // 20 alerts a second
			if time.Now().After(next) {
				r.SoakRSSMiB = append(r.SoakRSSMiB, mib(s.RSS()))
				next = next.Add(10 * time.Second)
			}
		}
		r.SoakRSSMiB = append(r.SoakRSSMiB, mib(s.RSS()))
		s.Kill()
	}
	return r
}

func alertsTable(r AlertsResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| measure | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| intake only (%d alerts, 16 senders, journal fsync'd per alert) | %.0f alerts/s; POST p50 %.1f ms, p99 %.1f ms |\n", r.IntakeAlerts, r.IntakePerSec, r.IntakeP50ms, r.IntakeP99ms)
	fmt.Fprintf(&b, "| end to end, rules only (%d alerts, 4 workers) | %.0f reports/s |\n", r.E2EAlerts, r.ReportsPerSec)
	fmt.Fprintf(&b, "| 10× burst (%d alerts on --queue 100, diagnoses at 20/s) | RSS %.0f MiB idle → %.0f MiB peak; %d answers 503 retried; all reported in %.0f s |\n", r.BurstAlerts, r.IdleRSSMiB, r.BurstRSSMiB, r.Burst503, r.BurstSeconds)
	fmt.Fprintf(&b, "| %d random SIGKILLs during %d alerts | %d lost, %d duplicate reports |\n", r.Kills, r.KillAlerts, r.Lost, r.Duplicates)
	if r.Soak != "" {
		var rss []string
		for _, m := range r.SoakRSSMiB {
			rss = append(rss, fmt.Sprintf("%.0f", m))
		}
		fmt.Fprintf(&b, "| soak: %.0f alerts/s for %s, RSS every 10 s (MiB) | %s |\n", r.SoakRate, r.Soak, strings.Join(rss, ", "))
	}
	return b.String()
}
