package cmd

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

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"lab.dev/lab/agent"
	"lab.dev/lab/agent/memory"
	"lab.dev/lab/agent/predict"
	"lab.dev/lab/agent/report"
	"lab.dev/lab/agent/serve"
	"lab.dev/lab/stacks"
)

func newServe(g *globals, kubeconfig *string) *cobra.Command {
	var listen, reports, slack, tokenFile, tlsCert, tlsKey, endpoint, model, incidents, prom string
	var noLLM, inCluster, noAuth bool
	var o serve.Options
	var po predict.Options
	var predictEvery time.Duration
	var rps float64
	c := &cobra.Command{
		Use:   "serve",
		Short: "Receive Alertmanager webhooks (POST /alerts) and diagnose the alerted pods; /metrics, /healthz, /readyz",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			if o.Token, err = webhookToken(tokenFile, noAuth); err != nil {
				return err
			}
			if (tlsCert == "") != (tlsKey == "") {
				return errors.New("--tls-cert and --tls-key go together")
			}
			var cfg *rest.Config
			if inCluster {
				cfg, err = rest.InClusterConfig()
			} else {
				cfg, err = diagnoseConfig(g, l, *kubeconfig)
			}
			if err != nil {
				return err
			}
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			ao := agent.Options{NoLLM: noLLM, Budget: l.Agent.LLM.TokenBudget, Whitelist: whitelist(l)}
			if ao.Runbooks, err = agent.LoadRunbooks(l); err != nil {
				return err
			}
			if incidents == "" && !inCluster {
				incidents = memory.LabPath(l.Metadata.Name)
				ao.GitOpsRepo, _ = l.GitOps.LocalRepo()
			}
			if incidents != "" { // in a pod only where --incidents names a writable, lasting path
				ao.Memory = memory.Open(incidents, l.Agent.Incidents)
			}
			if !noLLM {
				// One client, so the breaker sees every diagnosis of this server.
				if ao.LLM, err = llmClient(l, endpoint, model); err != nil {
					return err
				}
			}
			o.Rate = rate.Limit(rps)
			o.Ready = func(ctx context.Context) error {
				_, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
				return err
			}
			diag := func(ctx context.Context, t serve.Target) (*report.Report, error) {
				return agent.Diagnose(ctx, cs, t.Namespace, t.Pod, ao)
			}
			sinks := []serve.Sink{&serve.LogSink{W: g.ui.Out}}
			if reports != "" {
				sinks = append(sinks, serve.FileSink{Dir: reports})
			}
			if slack != "" {
				sinks = append(sinks, serve.SlackSink{URL: slack})
			}
			s := serve.New(o, diag, serve.NewMetrics(), sinks...)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			s.Run(ctx)
			if predictEvery > 0 && (prom != "" || l.Stacks.Prometheus.Enabled) {
				if prom == "" && inCluster {
					ns, svc, port := stacks.PrometheusService()
					prom = fmt.Sprintf("http://%s.%s.svc:%d", svc, ns, port)
				}
				src, err := predictSource(g, l, *kubeconfig, prom)
				if err != nil {
					return err
				}
				s.RunPredictions(ctx, &serve.Predictor{Every: predictEvery,
					Run: func(ctx context.Context) (*predict.Result, error) { return src.Run(ctx, po) }, // End unset: each run's now
					Explain: func(ctx context.Context, p *predict.Prediction) (*report.Report, error) {
						return agent.PredictionReport(ctx, cs, p, ao)
					}})
				g.ui.Progress("lab agent serve: saturation predictions every %s (%s horizon)", predictEvery, po.Horizon)
			}
			srv := &http.Server{Addr: listen, Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				srv.Shutdown(sctx)
			}()
			scheme, auth := "http", "bearer token required"
			if tlsCert != "" {
				scheme = "https"
			}
			if o.Token == "" {
				auth = "NO AUTHENTICATION (--insecure-no-auth)"
			}
			g.ui.Progress("lab agent serve: listening on %s://%s (POST /alerts, %s)", scheme, listen, auth)
			serveErr := func() error {
				if tlsCert != "" {
					return srv.ListenAndServeTLS(tlsCert, tlsKey)
				}
				return srv.ListenAndServe()
			}()
			if err := serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			s.Wait()
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&listen, "listen", ":8080", "address to listen on")
	f.StringVar(&reports, "reports", "", "folder to write each report into (Markdown + JSON)")
	f.StringVar(&incidents, "incidents", "", "incident memory file (default: beside the lab's state on this host; none in a pod unless given)")
	f.StringVar(&slack, "slack-webhook", "", "Slack-compatible incoming webhook URL for a summary per report")
	f.BoolVar(&noLLM, "no-llm", false, "rules only")
	f.StringVar(&endpoint, "llm-endpoint", "", "Ollama URL (default agent.llm.endpoint; in the cluster lab's manifest passes the Ollama Service)")
	f.StringVar(&model, "model", "", "model (default agent.llm.model, else the lab's)")
	f.StringVar(&tokenFile, "token-file", "", "file holding the bearer token POST /alerts must carry (in the cluster: Secret lab-agent-webhook, mounted); else $LAB_AGENT_WEBHOOK_TOKEN")
	f.BoolVar(&noAuth, "insecure-no-auth", false, "accept alerts from anyone (local experiments only)")
	f.StringVar(&tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
	f.StringVar(&tlsKey, "tls-key", "", "the certificate's private key (PEM)")
	f.BoolVar(&inCluster, "in-cluster", false, "use the pod's ServiceAccount (when running in the cluster)")
	f.IntVar(&o.Concurrency, "concurrency", 2, "diagnoses at once")
	f.IntVar(&o.Queue, "queue", 100, "diagnoses waiting before alerts are dropped")
	f.Float64Var(&rps, "rate", 1, "diagnoses started per second")
	f.IntVar(&o.Burst, "burst", 5, "rate burst")
	f.DurationVar(&o.Dedupe, "dedupe", 10*time.Minute, "do not diagnose the same pod again within this window")
	f.DurationVar(&predictEvery, "predict-every", 5*time.Minute, "run saturation predictions this often and alert once per predicted incident (0: never; needs the lab's Prometheus or --prometheus)")
	f.DurationVar(&po.Horizon, "horizon", 2*time.Hour, "predictions: alert on what runs out within this time")
	f.DurationVar(&po.Window, "window", 2*time.Hour, "predictions: history each trend is fitted on")
	f.StringVar(&prom, "prometheus", "", "predictions: Prometheus URL (default: the lab's; in the cluster its Service)")
	return c
}

// webhookToken is the bearer token the webhook requires: from --token-file,
// else $LAB_AGENT_WEBHOOK_TOKEN; none is an error unless --insecure-no-auth.
func webhookToken(file string, noAuth bool) (string, error) {
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
