package action

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent"
	"lab.dev/lab/agent/analyze"
	"lab.dev/lab/agent/collect"
	"lab.dev/lab/agent/memory"
	"lab.dev/lab/agent/predict"
	"lab.dev/lab/agent/report"
	"lab.dev/lab/agent/serve"
	"lab.dev/lab/core/state"
	"lab.dev/lab/core/ui"
	"lab.dev/lab/stacks"
)

// Serve is `lab agent serve`: the Alertmanager webhook receiver, its sinks,
// and the periodic saturation predictions.
type Serve struct {
	*Config
	serve.Options
	Listen, Reports, Slack, Incidents string
	TokenFile, TLSCert, TLSKey        string
	Endpoint, Model, Prometheus       string
	NoLLM, NoAuth                     bool
	RPS                               float64
	PredictEvery                      time.Duration
	Predict                           predict.Options
	// JournalDir keeps accepted alerts across restarts (default: beside
	// the labs on this host; in a pod, the volume lab's manifest mounts).
	// "-" keeps them in memory only.
	JournalDir string
	// DrainTimeout is how long SIGTERM waits for diagnoses in flight
	// (within the pod's terminationGracePeriodSeconds); what is left stays
	// in the journal for the next start.
	DrainTimeout time.Duration
	// WatchNamespaces replaces lab.yaml's agent.namespaces: the namespaces
	// whose pods' alerts are diagnosed and whose restarts are counted (in
	// a pod, which has no lab.yaml, lab's manifest passes them).
	WatchNamespaces []string
	// ShowStatus prints the running server's intake (GET /status at
	// Listen) instead of serving.
	ShowStatus bool
	Output     ui.Format // of --status
	// LogFormat is the events' format: text (logfmt) or json; "" takes
	// $LAB_LOG_FORMAT, else text. With json the reports printed on stdout
	// are JSON events too.
	LogFormat string
}

// NewServe is Serve with the server's defaults (serve.DefaultOptions).
func NewServe(c *Config) *Serve {
	d := serve.DefaultOptions()
	return &Serve{Config: c, Options: d, RPS: float64(d.Rate), DrainTimeout: 20 * time.Second}
}

// JournalPath is where `lab agent serve` keeps lab's accepted alerts on
// this host: beside the labs, not in the lab's folder (lab down removes
// that; an alert accepted must outlive it until reported).
func JournalPath(lab string) string { return filepath.Join(state.Home(), "journal", lab) }

// serveNamespaces is --namespaces when given (each a namespace name), else
// lab.yaml's agent.namespaces.
func serveNamespaces(flag, lab []string) ([]string, error) {
	if len(flag) == 0 {
		return lab, nil
	}
	for _, ns := range flag {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("--namespaces: %q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
	}
	return flag, nil
}

// Run serves until SIGINT/SIGTERM.
func (s *Serve) Run() error {
	var err error
	if s.Listen == "" { // outside a pod, only this host's loopback by default
		s.Listen = "127.0.0.1:8080"
		if s.InPod {
			s.Listen = ":8080"
		}
	}
	if s.ShowStatus {
		return s.status()
	}
	jsonLogs, err := ui.JSONLogs(s.LogFormat)
	if err != nil {
		return err
	}
	s.Logger = ui.EventLog(s.UI.Err, jsonLogs)
	if s.Token, err = WebhookToken(s.TokenFile, s.NoAuth); err != nil {
		return err
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	_, cs, err := s.Clients()
	if err != nil {
		return err
	}
	l := s.Lab
	ao := agent.Options{NoLLM: s.NoLLM, Budget: l.Agent.LLM.TokenBudget, Whitelist: s.Whitelist()}
	if ao.Runbooks, err = agent.LoadRunbooks(l); err != nil {
		return err
	}
	if s.Incidents == "" && !s.InPod {
		s.Incidents = memory.LabPath(l.Metadata.Name)
		ao.GitOpsRepo, _ = l.GitOpsRepo()
	}
	if s.Incidents != "" { // in a pod only where --incidents names a writable, lasting path
		ao.Memory = memory.Open(s.Incidents, l.Agent.Incidents)
	}
	if !s.NoLLM { // one client, so the breaker sees every diagnosis of this server
		if ao.LLM, err = s.LLM(s.Endpoint, s.Model); err != nil {
			return err
		}
	}
	s.Rate = rate.Limit(s.RPS)
	if s.Namespaces, err = serveNamespaces(s.WatchNamespaces, l.Agent.Namespaces); err != nil {
		return err
	}
	switch {
	case s.JournalDir == "-":
		s.Logger.Warn("--journal - keeps accepted alerts in memory: a restart loses those not yet reported")
	case s.JournalDir == "" && s.InPod:
		return errors.New("--journal: in a pod, give the folder of a volume that outlives the container (lab's manifest mounts one at /var/lib/lab-agent), or - for none")
	default:
		if s.JournalDir == "" {
			s.JournalDir = JournalPath(l.Metadata.Name)
		}
		if s.Journal, err = serve.OpenJournal(s.JournalDir, s.Queue); err != nil {
			return err
		}
		if st := s.Journal.Stats(); st.Unreadable > 0 {
			s.Logger.Warn("journal entries could not be read", "count", st.Unreadable, "kept_in", filepath.Join(s.JournalDir, "bad"))
		}
	}
	s.Ready = func(ctx context.Context) error {
		_, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	}
	// The predictions' window and horizon: the flags, else lab.yaml's
	// agent.prediction (in a pod, lab's manifest passes them as flags).
	if s.Predict.Window <= 0 {
		s.Predict.Window = l.Agent.Prediction.Window
	}
	if s.Predict.Horizon <= 0 {
		s.Predict.Horizon = l.Agent.Prediction.Horizon
	}
	var src *predict.Prometheus
	srcErr := errors.New("no Prometheus: the lab has none (stacks.prometheus.enabled is false) and --prometheus is not set")
	if s.Prometheus != "" || l.Stacks.Prometheus.Enabled {
		if s.Prometheus == "" && s.InPod {
			ns, svc, port := stacks.PrometheusService()
			s.Prometheus = fmt.Sprintf("http://%s.%s.svc:%d", svc, ns, port)
		}
		src, srcErr = PredictSource(s.Config, s.Prometheus)
	}
	diag := func(ctx context.Context, t serve.Target) (*report.Report, error) {
		o := ao
		o.TraceID = t.Trace // the alert's, in every event and span about it
		if t.Prediction != "" {
			return alertPrediction(ctx, cs, src, srcErr, t, s.Predict, o)
		}
		return agent.Diagnose(ctx, cs, t.Namespace, t.Pod, o)
	}
	sinks := []serve.Sink{&serve.LogSink{W: s.UI.Out, JSON: jsonLogs}}
	if s.Reports != "" {
		sinks = append(sinks, serve.FileSink{Dir: s.Reports})
	}
	if s.Slack != "" {
		sinks = append(sinks, serve.SlackSink{URL: s.Slack})
	}
	metrics := serve.NewMetrics()
	srvr := serve.New(s.Options, diag, metrics, sinks...)
	flush, err := s.Tracing("lab-agent")
	if err != nil {
		return err
	}
	defer flush()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The workers outlive the signal by the drain timeout: work, not ctx.
	work, cancelWork := context.WithCancel(context.Background())
	defer cancelWork()
	srvr.Run(work)
	// Restart counts for lab's LabContainerRestarted rule (no
	// kube-state-metrics on lab's labs; cAdvisor misses short-lived
	// containers).
	if err := metrics.WatchRestarts(work, cs, s.Namespaces); err != nil {
		s.Logger.Warn("restart counts not exported", "error", err)
	}
	if s.PredictEvery > 0 && (s.Prometheus != "" || l.Stacks.Prometheus.Enabled) {
		if srcErr != nil {
			return srcErr
		}
		srvr.RunPredictions(ctx, &serve.Predictor{Every: s.PredictEvery,
			Run: func(ctx context.Context) (*predict.Result, error) { return src.Run(ctx, s.Predict) }, // End unset: each run's now
			Explain: func(ctx context.Context, p *predict.Prediction) (*report.Report, error) {
				return agent.PredictionReport(ctx, cs, p, ao)
			}})
		s.Logger.Info("saturation predictions", "every", s.PredictEvery.String(), "horizon", s.Predict.Horizon.String())
	}
	return s.listen(ctx, work, cancelWork, srvr)
}

// listen serves HTTP(S) until ctx ends (SIGTERM), then drains: intake
// answers 503 and readiness fails while the diagnoses in flight get
// DrainTimeout to finish; the rest is cancelled and stays in the journal.
func (s *Serve) listen(ctx, work context.Context, cancelWork context.CancelFunc, srvr *serve.Server) error {
	// Slow and idle clients are timed out: a webhook body is small, and an
	// idle connection held forever is a file descriptor an attacker keeps.
	srv := &http.Server{Addr: s.Listen, Handler: srvr.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		if !srvr.Drain(s.DrainTimeout) {
			s.Logger.Warn("diagnoses still running after the drain timeout: stopped, kept in the journal for the next start", "drain_timeout", s.DrainTimeout.String())
		}
		cancelWork()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	scheme, auth := "http", "bearer token required"
	if s.TLSCert != "" {
		scheme = "https"
	}
	if s.Token == "" {
		auth = "NO AUTHENTICATION (--insecure-no-auth)"
	}
	journal := "in memory"
	if s.Journal != nil {
		journal = s.Journal.Dir()
	}
	s.Logger.Info("listening", "url", scheme+"://"+s.Listen, "auth", auth, "journal", journal)
	var err error
	if s.TLSCert != "" {
		err = srv.ListenAndServeTLS(s.TLSCert, s.TLSKey)
	} else {
		err = srv.ListenAndServe()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-drained
	srvr.Wait()
	return nil
}

// status prints the running server's intake (GET /status).
func (s *Serve) status() error {
	host := s.Listen
	if strings.HasPrefix(host, ":") {
		host = "127.0.0.1" + host
	}
	scheme := "http"
	c := &http.Client{Timeout: 5 * time.Second}
	if s.TLSCert != "" {
		scheme = "https"
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // #nosec G402 -- counts only, from our own server on this address
	}
	resp, err := c.Get(scheme + "://" + host + "/status")
	if err != nil {
		return fmt.Errorf("no lab agent serve answers at %s: %w", host, err)
	}
	defer resp.Body.Close()
	var st serve.Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/status: HTTP %d %v", host, resp.StatusCode, err)
	}
	if s.Output == ui.JSON {
		return ui.Encode(s.UI.Out, s.Output, st)
	}
	journal := st.Journal
	if journal == "" {
		journal = "in memory"
	}
	fmt.Fprintf(s.UI.Out, "queued %d, in flight %d, oldest queued %s\nreported %d, failed %d, retried %d, replayed %d, answered 503 %d\ndropped %d (must stay 0)\njournal %s%s\n",
		st.Queued, st.InFlight, (time.Duration(st.OldestQueuedS * float64(time.Second))).Round(time.Second),
		st.Reported, st.Failed, st.Retried, st.Replayed, st.Busy, st.Dropped, journal, map[bool]string{true: " (draining)"}[st.Draining])
	return nil
}

// WebhookToken is the bearer token the webhook requires: from file, else
// $LAB_AGENT_WEBHOOK_TOKEN; none is an error unless noAuth.
func WebhookToken(file string, noAuth bool) (string, error) {
	tok := os.Getenv("LAB_AGENT_WEBHOOK_TOKEN")
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	switch {
	case tok != "" && noAuth:
		return "", errors.New("--insecure-no-auth with a token: pick one")
	case tok == "" && !noAuth:
		return "", errors.New("the webhook needs a bearer token: --token-file FILE or $LAB_AGENT_WEBHOOK_TOKEN (in the cluster: Secret lab-agent-webhook, which `lab agent apply --serve` creates), or --insecure-no-auth for local experiments")
	case len(tok) < 16 && !noAuth:
		return "", fmt.Errorf("the webhook token is %d characters: use at least 16 (e.g. openssl rand -hex 32)", len(tok))
	}
	return tok, nil
}

// alertPrediction is the report on one of lab's predictive alerts: lab's
// own trend (Theil–Sen over the window, as `lab agent predict` fits it) for
// what the alert names, stated as PredictionReport states it — the
// container, its limit, the predicted time and its band, the series. Where
// lab's trend does not confirm the rule's least-squares line (a series too
// young for ten samples, a burst the line extrapolates, no Prometheus at
// hand) the report says so beside a diagnosis of the pod, and names the
// limit from the pod's spec: the alert is not lost, and not overstated.
func alertPrediction(ctx context.Context, cs kubernetes.Interface, src *predict.Prometheus, srcErr error, t serve.Target, po predict.Options, o agent.Options) (*report.Report, error) {
	po.Namespace = t.Namespace
	// No finer than Prometheus scrapes (30 s): finer steps repeat each
	// sample, a staircase whose every tread looks like a level shift.
	po.Step = max(po.Window/60, 30*time.Second)
	why, when := "", ""
	if src == nil {
		why = srcErr.Error()
	} else if res, err := src.Run(ctx, po); err != nil {
		why = "reading the series: " + err.Error()
	} else {
		named := func(k predict.Kind, tg predict.Target) bool {
			return string(k) == t.Prediction && tg.Namespace == t.Namespace && (tg.Pod == t.Pod || "pvc/"+tg.PVC == t.Pod) &&
				(t.Container == "" || tg.Container == t.Container)
		}
		for _, p := range res.Predictions {
			if named(p.Kind, p.Target) {
				return agent.PredictionReport(ctx, cs, p, o)
			}
		}
		why = fmt.Sprintf("its trend over the last %s does not reach the limit within %s (%d series judged)", predict.Duration(po.Window), predict.Duration(po.Horizon), res.Series)
		for _, y := range res.Young {
			if named(y.Kind, y.Target) {
				why = youngWhy(y, po)
				if y.Reaches && y.In <= po.Horizon {
					when = " — in ≈ " + predict.Duration(y.In) + " by the least-squares line through its samples"
				}
			}
		}
	}
	r, err := agent.Diagnose(ctx, cs, t.Namespace, t.Pod, o)
	if err != nil { // a PVC, or a pod gone since
		r = &report.Report{TraceID: o.TraceID, Namespace: t.Namespace, Pod: t.Pod, Time: time.Now().UTC(),
			Model: report.ModelPart{Mode: "human-operator", Reason: "a prediction; no pod to diagnose"}}
	}
	what := map[string]string{"memory": "its memory limit", "cpu": "its CPU limit", "pvc": "its capacity"}[t.Prediction]
	if lim := specLimit(r, t); lim != "" {
		what += " of " + lim
	}
	subject := t.Namespace + "/" + t.Pod
	if t.Container != "" {
		subject += " container " + t.Container
	}
	f := analyze.Finding{Detector: "prometheus-rule", Category: "SaturationPredicted", Severity: analyze.Warning, Container: t.Container,
		Cause: fmt.Sprintf("Prometheus' rule %s: %s is predicted to reach %s within %s%s; lab's own prediction does not confirm it: %s",
			t.Alert, subject, what, predict.Duration(po.Horizon), when, why),
		Evidence: []string{"alert:" + t.Alert},
		Runbook: []string{"run `lab agent predict -n " + t.Namespace + "` for the trend, its band and the series",
			"if the growth is real, raise the limit in git before it is reached; if it is a burst or a startup ramp, nothing is needed"}}
	r.Findings = append([]analyze.Finding{f}, r.Findings...)
	r.Evidence = append(r.Evidence, collect.Evidence{ID: "alert:" + t.Alert, Kind: "alert",
		Summary: fmt.Sprintf("Alertmanager delivered %s for %s (lab_prediction=%s)", t.Alert, subject, t.Prediction)})
	return r, nil
}

// youngWhy says why lab's trend cannot judge a young series, and what a
// least-squares line through its few samples (the line the rule's
// predict_linear fits, with no band) says.
func youngWhy(y predict.Young, po predict.Options) string {
	why := fmt.Sprintf("its series is too young for a trend: %d samples in the last %s, a trend and its band want %d", y.Samples, predict.Duration(po.Window), predict.MinSamples)
	switch {
	case y.Reaches && y.In == 0:
		why += fmt.Sprintf("; a least-squares line through them is at the limit (%s) already", predict.Quantity(y.Limit, y.Unit))
	case y.Reaches:
		why += fmt.Sprintf("; a least-squares line through them (what predict_linear fits; no band) reaches the limit (%s) in ≈ %s, at %s",
			predict.Quantity(y.Limit, y.Unit), predict.Duration(y.In), y.At.Format(time.RFC3339))
	case y.Samples >= 3:
		why += "; a least-squares line through them does not rise"
	}
	return why
}

// specLimit is the limit the pod's spec gives the alerted container for
// the alert's kind ("" when unknown).
func specLimit(r *report.Report, t serve.Target) string {
	if r.Source == nil || r.Source.Pod == nil {
		return ""
	}
	for _, c := range r.Source.Pod.Spec.Containers {
		if c.Name != t.Container {
			continue
		}
		switch t.Prediction {
		case "memory":
			if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
				return q.String()
			}
		case "cpu":
			if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
				return q.String()
			}
		}
	}
	return ""
}
