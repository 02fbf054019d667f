package main

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent"
	"lab.dev/lab/agent/digest"
)

// DigestResult is the digest's throughput on one core.
type DigestResult struct {
	MB        int     `json:"mb"`
	Seconds   float64 `json:"seconds"`
	MBPerSec  float64 `json:"mbPerSec"`
	Lines     int     `json:"lines"`
	Templates int     `json:"templates"`
	Tokens    int     `json:"tokens"`
}

func runDigest(mb int) DigestResult {
	var sb strings.Builder
	r := rand.New(rand.NewSource(7))
	for sb.Len() < mb<<20 {
		switch r.Intn(20) {
		case 0:
			fmt.Fprintf(&sb, "2026-11-23T10:%02d:%02d.%03dZ ERROR upstream 10.0.%d.%d:8080 connection refused (attempt %d)\n", r.Intn(60), r.Intn(60), r.Intn(1000), r.Intn(255), r.Intn(255), r.Intn(9))
		case 1:
			fmt.Fprintf(&sb, "2026-11-23T10:%02d:%02dZ DEBUG session token=%x user=%d\n", r.Intn(60), r.Intn(60), r.Int63(), r.Intn(1000))
		case 2:
			fmt.Fprintf(&sb, "\x1b[33mWARN\x1b[0m slow query %dms table=orders rows=%d\n", r.Intn(5000), r.Intn(1e6))
		default:
			fmt.Fprintf(&sb, "2026-11-23T10:%02d:%02dZ INFO GET /api/v1/items/%d 200 %dms bytes=%d\n", r.Intn(60), r.Intn(60), r.Intn(100000), r.Intn(500), r.Intn(1e5))
		}
	}
	text := sb.String()
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	start := time.Now()
	d := digest.Build([]digest.Source{{ID: "log:app:current", Text: text}}, digest.Options{Budget: 1500})
	secs := time.Since(start).Seconds()
	return DigestResult{MB: mb, Seconds: secs, MBPerSec: float64(len(text)) / (1 << 20) / secs, Lines: d.Lines, Templates: d.Templates, Tokens: d.Tokens}
}

// DiagnoseResult is `diagnose --no-llm` wall time in a crowded namespace.
type DiagnoseResult struct {
	Pods    int       `json:"pods"`
	Events  int       `json:"events"`
	Runs    int       `json:"runs"`
	Seconds []float64 `json:"seconds"`
	Median  float64   `json:"medianSeconds"`
}

func runAtScale(ctx context.Context, cs kubernetes.Interface, pods, events int) DiagnoseResult {
	ns := "bench-scale"
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		check(err)
	}
	fmt.Fprintf(os.Stderr, "creating %d pods and %d events in %s…\n", pods, events, ns)
	parallel(pods, func(i int) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%04d", i), Namespace: ns, Labels: map[string]string{"app": "bulk"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.local/app:1"}}}}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			fmt.Fprintln(os.Stderr, err)
		}
	})
	now := metav1.Now()
	parallel(events, func(i int) {
		pod := fmt.Sprintf("app-%04d", i%pods)
		e := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%d", pod, i), Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod},
			Type:           "Warning", Reason: "BackOff", Message: "Back-off restarting failed container app", Count: 3,
			FirstTimestamp: now, LastTimestamp: now, Source: corev1.EventSource{Component: "kubelet"}}
		if _, err := cs.CoreV1().Events(ns).Create(ctx, e, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			fmt.Fprintln(os.Stderr, err)
		}
	})
	res := DiagnoseResult{Pods: pods, Events: events, Runs: 5}
	for i := 0; i < res.Runs; i++ {
		start := time.Now()
		_, err := agent.Diagnose(ctx, cs, ns, fmt.Sprintf("app-%04d", i*7%pods), agent.Options{NoLLM: true})
		check(err)
		res.Seconds = append(res.Seconds, time.Since(start).Seconds())
	}
	s := append([]float64{}, res.Seconds...)
	sort.Float64s(s)
	res.Median = s[len(s)/2]
	return res
}

func parallel(n int, f func(int)) {
	var wg sync.WaitGroup
	ch := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		ch <- i
	}
	close(ch)
	wg.Wait()
}
