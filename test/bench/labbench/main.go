// Command labbench runs lab's benchmarks on real components and writes
// machine-readable results (benchmarks/results.json) plus the markdown tables
// test/bench/run.sh puts into BENCHMARKS.md.
//
//	labbench [-kubeconfig FILE] [-out bench] [-pods 1000] [-events 10000]
//
// Without -kubeconfig it starts the harness control plane (make testbin).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"lab.dev/lab/bootstrap/cluster/kwok"
	"lab.dev/lab/test/harness"
)

// Results is benchmarks/results.json.
type Results struct {
	Date     string            `json:"date"`
	Machine  string            `json:"machine"`
	Suite    SuiteResult       `json:"suite"`   // regression: manifests/scenarios
	HeldOut  SuiteResult       `json:"heldOut"` // generalisation: manifests/scenarios/heldout
	Triage   *TriageResult     `json:"triage,omitempty"`
	Runbooks []RetrievalResult `json:"runbookRetrieval,omitempty"`
	Digest   DigestResult      `json:"digest"`
	Diagnose DiagnoseResult    `json:"diagnoseAtScale"`
	APF      *APFResult        `json:"apf,omitempty"`
	Stacks   *StacksResult     `json:"stacks,omitempty"`
	Predict  *PredictResult    `json:"predict,omitempty"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "cluster to run against (default: start the harness)")
	kwokDir := flag.String("kwok-dir", "", "with -kubeconfig of a kwok lab: its state folder (<LAB_HOME>/labs/<name>/kwok), to run the scenario suite there")
	out := flag.String("out", "benchmarks", "folder for results.json and tables.md")
	scenarios := flag.String("scenarios", "manifests/scenarios", "scenario folder")
	pods := flag.Int("pods", 1000, "pods in the at-scale namespace")
	events := flag.Int("events", 10000, "events in the at-scale namespace")
	digestMB := flag.Int("digest-mb", 100, "log size for the digest throughput run")
	apf := flag.Bool("apf", true, "run the API Priority and Fairness burst benchmark (own control plane)")
	apfSeats := flag.Int("apf-seats", 30, "--max-requests-inflight of the APF benchmark's API server")
	apfMutating := flag.Int("apf-mutating", 10, "--max-mutating-requests-inflight of the APF benchmark's API server")
	apfWorkers := flag.Int("apf-workers", 64, "concurrent fast agent LISTs in the CPU-bound burst")
	apfSlow := flag.Int("apf-slow-workers", 32, "concurrent slowly-read agent LISTs in the seat-bound burst")
	only := flag.String("only", "", "run one benchmark: alerts, apf, digest, predict, protocols, or suite (both scenario sets, nothing else)")
	runs := flag.Int("runs", 20, "protocols: diagnoses per measured row")
	labBin := flag.String("lab", "bin/lab", "alerts, protocols: the lab binary measured")
	soak := flag.Duration("soak", 3*time.Minute, "alerts: length of the steady-rate soak (0: none)")
	containers := flag.Int("containers", 1000, "containers in the predict -A cost run")
	apfPhase := flag.Duration("apf-phase", 15*time.Second, "length of each APF phase")
	flag.Parse()
	ctx := context.Background()
	if *only == "apf" {
		res := Results{Date: time.Now().UTC().Format("2006-01-02"), Machine: machine()}
		r := runAPF(ctx, *apfSeats, *apfMutating, *apfWorkers, *apfSlow, *apfPhase)
		res.APF = &r
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Println(string(b))
		fmt.Print(tables(res))
		return
	}

	if *only == "alerts" {
		r := runAlerts(ctx, *labBin, *soak)
		publish(*out, "alerts", r, alertsTable(r))
		return
	}
	if *only == "protocols" {
		r := runProtocols(ctx, *labBin, *runs)
		publish(*out, "protocols", r, protocolsTable(r))
		return
	}
	if *only == "predict" {
		r := runPredict(ctx, *containers)
		check(os.MkdirAll(*out, 0o755))
		b, _ := json.MarshalIndent(r, "", "  ")
		check(os.WriteFile(filepath.Join(*out, "predict.json"), b, 0o644))
		fmt.Print(predictTable(r))
		return
	}
	if *only == "digest" {
		r := runDigest(*digestMB)
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Println(string(b))
		return
	}
	if *only == "suite" {
		c, err := harness.Start(ctx, harness.Options{Nodes: harness.ScenarioNodes()})
		check(err)
		res := Results{Date: time.Now().UTC().Format("2006-01-02"), Machine: machine()}
		res.Suite = runSuite(ctx, c, *scenarios, 20*time.Second)
		res.HeldOut = runSuite(ctx, c, filepath.Join(*scenarios, "heldout"), 5*time.Second)
		tr := runTriage(ctx, c.Client, filepath.Join(*scenarios, "heldout"), res.Suite, res.HeldOut)
		res.Triage = &tr
		res.Runbooks = append(res.Runbooks, runRetrieval(ctx, "manifests/runbook-eval/pairs.yaml", nil, "lexical (BM25)"))
		res.Runbooks = append(res.Runbooks, hybridRetrieval(ctx)...)
		c.Stop()
		check(os.MkdirAll(*out, 0o755))
		b, _ := json.MarshalIndent(res, "", "  ")
		check(os.WriteFile(filepath.Join(*out, "suite.json"), b, 0o644))
		fmt.Print(suiteTables(res))
		return
	}

	var cs kubernetes.Interface
	var cl *harness.Cluster
	if *kubeconfig == "" {
		c, err := harness.Start(ctx, harness.Options{Nodes: harness.ScenarioNodes()})
		check(err)
		defer c.Stop()
		cl, cs = c, c.Client
	} else {
		cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
		check(err)
		cfg.QPS, cfg.Burst = 200, 400
		cs, err = kubernetes.NewForConfig(cfg)
		check(err)
		if *kwokDir != "" {
			k, err := kwok.Attach(*kwokDir, cfg)
			check(err)
			cl = &harness.Cluster{Cluster: k}
		}
	}
	res := Results{Date: time.Now().UTC().Format("2006-01-02"), Machine: machine()}
	if cl != nil {
		st := runStacks(ctx, cl, 4)
		res.Stacks = &st
		res.Suite = runSuite(ctx, cl, *scenarios, 20*time.Second)
		res.HeldOut = runSuite(ctx, cl, filepath.Join(*scenarios, "heldout"), 5*time.Second)
		tr := runTriage(ctx, cs, filepath.Join(*scenarios, "heldout"), res.Suite, res.HeldOut)
		res.Triage = &tr
		res.Runbooks = append(res.Runbooks, runRetrieval(ctx, "manifests/runbook-eval/pairs.yaml", nil, "lexical (BM25)"))
		res.Runbooks = append(res.Runbooks, hybridRetrieval(ctx)...)
	} else {
		fmt.Fprintln(os.Stderr, "suite: needs kwok's stages — pass -kwok-dir with a kwok lab's kubeconfig; skipped")
	}
	res.Digest = runDigest(*digestMB)
	res.Diagnose = runAtScale(ctx, cs, *pods, *events)
	pr := runPredict(ctx, *containers)
	res.Predict = &pr
	if *apf {
		r := runAPF(ctx, *apfSeats, *apfMutating, *apfWorkers, *apfSlow, *apfPhase)
		res.APF = &r
	}
	check(os.MkdirAll(*out, 0o755))
	b, _ := json.MarshalIndent(res, "", "  ")
	check(os.WriteFile(filepath.Join(*out, "results.json"), b, 0o644))
	check(os.WriteFile(filepath.Join(*out, "tables.md"), []byte(tables(res)), 0o644))
	fmt.Print(tables(res))
}

// publish writes a benchmark's result as out/NAME.json and its table as
// out/NAME.md (what BENCHMARKS.md includes), and prints the table.
func publish(out, name string, r any, md string) {
	check(os.MkdirAll(out, 0o755))
	b, _ := json.MarshalIndent(r, "", "  ")
	check(os.WriteFile(filepath.Join(out, name+".json"), b, 0o644))
	check(os.WriteFile(filepath.Join(out, name+".md"), []byte(md), 0o644))
	fmt.Print(md)
}

func machine() string {
	var mem string
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		fmt.Sscanf(string(b), "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %d GiB", (kb+(1<<19))>>20)
	}
	return fmt.Sprintf("%d cores%s, %s/%s, %s", runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "labbench:", err)
		os.Exit(1)
	}
}
