// Command target is the workload the kind tests break on purpose: a static
// program that, by its first argument, fails the way real services fail, so
// `lab diagnose` is checked against what real kubelets, containers and the
// kernel report. Each mode logs what a real service would, nothing more.
//
//	target panic                 panics after a moment (Go stack trace, exit 2)
//	target leak MiB [EVERY]      touches MiB more memory every EVERY (1s) until the kernel OOM-kills it
//	target cache MiB-per-second MAX-MiB  fills a cache up to MAX MiB, then serves on :8080 (a steady need: OOM-killed under a lower limit, healthy above it)
//	target serve PORT            serves HTTP on PORT (probes pointed elsewhere fail)
//	target slow DELAY PORT       serves on PORT only after DELAY
//	target env NAME              exits 1 when the environment variable NAME is unset
//	target file PATH             exits 1 when it cannot read PATH
//	target dep HOST:PORT         exits 1 when nothing answers at HOST:PORT
//	target watch HOST:PORT       dials HOST:PORT every second; exits 1 after 3 failures in a row
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: target panic|leak|serve|slow|env|file|dep|watch ARGS")
	}
	arg := func(i int) string {
		if len(os.Args) <= i {
			fail("target %s: missing argument %d", os.Args[1], i-1)
		}
		return os.Args[i]
	}
	switch os.Args[1] {
	case "panic":
		fmt.Println("starting order processor")
		time.Sleep(2 * time.Second)
		var orders map[string]int
		orders["first"]++ // assignment to entry in nil map
	case "leak":
		rate, _ := strconv.Atoi(arg(2))
		every := time.Second
		if len(os.Args) > 3 {
			if d, err := time.ParseDuration(os.Args[3]); err == nil && d > 0 {
				every = d
			}
		}
		leak(rate, every)
	case "cache":
		rate, _ := strconv.Atoi(arg(2))
		most, _ := strconv.Atoi(arg(3))
		cache(rate, most)
	case "serve":
		serve(arg(2))
	case "slow":
		d, err := time.ParseDuration(arg(2))
		if err != nil {
			fail("target slow: %v", err)
		}
		fmt.Printf("warming caches, ready in %s\n", d)
		time.Sleep(d)
		serve(arg(3))
	case "env":
		if os.Getenv(arg(2)) == "" {
			fail("config error: required environment variable %s is not set", arg(2))
		}
		serve("8080")
	case "file":
		if _, err := os.ReadFile(arg(2)); err != nil {
			fail("loading configuration: %v", err)
		}
		serve("8080")
	case "dep":
		for i := 1; i <= 3; i++ {
			c, err := net.DialTimeout("tcp", arg(2), 2*time.Second)
			if err == nil {
				c.Close()
				serve("8080")
			}
			fmt.Printf("attempt %d/3: waiting for database: %v\n", i, err)
			time.Sleep(time.Second)
		}
		fail("giving up: database at %s unreachable", arg(2))
	case "watch":
		for fails := 0; ; time.Sleep(time.Second) {
			c, err := net.DialTimeout("tcp", arg(2), 2*time.Second)
			if err == nil {
				c.Close()
				fails = 0
				continue
			}
			fails++
			fmt.Printf("waiting for database: %v\n", err)
			if fails == 3 {
				fail("giving up: database at %s unreachable", arg(2))
			}
		}
	default:
		fail("target: unknown mode %q", os.Args[1])
	}
}

// leak grows the heap by rate MiB every interval, writing every page so the
// memory is really resident, until the cgroup's limit ends it.
func leak(rate int, every time.Duration) {
	if rate <= 0 {
		rate = 10
	}
	var kept [][]byte
	for i := 1; ; i++ {
		b := make([]byte, rate<<20)
		for j := range b {
			b[j] = byte(j)
		}
		kept = append(kept, b)
		fmt.Printf("cache holds %d MiB\n", i*rate)
		time.Sleep(every)
	}
}

func cache(rate, most int) {
	if rate <= 0 {
		rate = 10
	}
	var kept [][]byte
	for held := 0; held < most; held += rate {
		b := make([]byte, min(rate, most-held)<<20)
		for j := range b {
			b[j] = byte(j)
		}
		kept = append(kept, b)
		fmt.Printf("cache holds %d MiB\n", held+len(b)>>20)
		time.Sleep(time.Second)
	}
	fmt.Printf("cache warm (%d MiB in %d chunks)\n", most, len(kept))
	serve("8080")
	fmt.Println(len(kept)) // kept alive while serving
}

func serve(port string) {
	fmt.Printf("listening on :%s\n", port)
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		fail("serving: %v", err)
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(1)
}
