package action

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"lab.dev/lab/agent"
	"lab.dev/lab/agent/memory"
	"lab.dev/lab/agent/predict"
	"lab.dev/lab/agent/report"
	"lab.dev/lab/agent/serve"
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
}

// NewServe is Serve with the server's defaults (serve.DefaultOptions).
func NewServe(c *Config) *Serve {
	d := serve.DefaultOptions()
	return &Serve{Config: c, Options: d, RPS: float64(d.Rate)}
}

// Run serves until SIGINT/SIGTERM.
func (s *Serve) Run() error {
	var err error
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
	s.Namespaces = l.Agent.Namespaces
	s.Log = func(format string, a ...any) { s.UI.Progress("lab agent serve: "+format, a...) }
	if s.Listen == "" { // outside a pod, only this host's loopback by default
		s.Listen = "127.0.0.1:8080"
		if s.InPod {
			s.Listen = ":8080"
		}
	}
	s.Ready = func(ctx context.Context) error {
		_, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	}
	diag := func(ctx context.Context, t serve.Target) (*report.Report, error) {
		return agent.Diagnose(ctx, cs, t.Namespace, t.Pod, ao)
	}
	sinks := []serve.Sink{&serve.LogSink{W: s.UI.Out}}
	if s.Reports != "" {
		sinks = append(sinks, serve.FileSink{Dir: s.Reports})
	}
	if s.Slack != "" {
		sinks = append(sinks, serve.SlackSink{URL: s.Slack})
	}
	srvr := serve.New(s.Options, diag, serve.NewMetrics(), sinks...)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srvr.Run(ctx)
	if s.PredictEvery > 0 && (s.Prometheus != "" || l.Stacks.Prometheus.Enabled) {
		if s.Prometheus == "" && s.InPod {
			ns, svc, port := stacks.PrometheusService()
			s.Prometheus = fmt.Sprintf("http://%s.%s.svc:%d", svc, ns, port)
		}
		src, err := PredictSource(s.Config, s.Prometheus)
		if err != nil {
			return err
		}
		srvr.RunPredictions(ctx, &serve.Predictor{Every: s.PredictEvery,
			Run: func(ctx context.Context) (*predict.Result, error) { return src.Run(ctx, s.Predict) }, // End unset: each run's now
			Explain: func(ctx context.Context, p *predict.Prediction) (*report.Report, error) {
				return agent.PredictionReport(ctx, cs, p, ao)
			}})
		s.UI.Progress("lab agent serve: saturation predictions every %s (%s horizon)", s.PredictEvery, s.Predict.Horizon)
	}
	return s.listen(ctx, srvr)
}

// listen serves HTTP(S) until ctx ends, then drains the workers.
func (s *Serve) listen(ctx context.Context, srvr *serve.Server) error {
	// Slow and idle clients are timed out: a webhook body is small, and an
	// idle connection held forever is a file descriptor an attacker keeps.
	srv := &http.Server{Addr: s.Listen, Handler: srvr.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
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
	s.UI.Progress("lab agent serve: listening on %s://%s (POST /alerts, %s)", scheme, s.Listen, auth)
	var err error
	if s.TLSCert != "" {
		err = srv.ListenAndServeTLS(s.TLSCert, s.TLSKey)
	} else {
		err = srv.ListenAndServe()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	srvr.Wait()
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
