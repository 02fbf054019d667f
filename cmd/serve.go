package cmd

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"lab.dev/lab/agent"
	"lab.dev/lab/agent/report"
	"lab.dev/lab/agent/serve"
)

func newServe(g *globals, kubeconfig *string) *cobra.Command {
	var listen, reports, slack string
	var noLLM, inCluster bool
	var o serve.Options
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
			if !noLLM {
				// One client, so the breaker sees every diagnosis of this server.
				if ao.LLM, err = llmClient(l, "", ""); err != nil {
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
			srv := &http.Server{Addr: listen, Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				srv.Shutdown(sctx)
			}()
			g.ui.Progress("lab agent serve: listening on %s (POST /alerts)", listen)
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			s.Wait()
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&listen, "listen", ":8080", "address to listen on")
	f.StringVar(&reports, "reports", "", "folder to write each report into (Markdown + JSON)")
	f.StringVar(&slack, "slack-webhook", "", "Slack-compatible incoming webhook URL for a summary per report")
	f.BoolVar(&noLLM, "no-llm", false, "rules only")
	f.BoolVar(&inCluster, "in-cluster", false, "use the pod's ServiceAccount (when running in the cluster)")
	f.IntVar(&o.Concurrency, "concurrency", 2, "diagnoses at once")
	f.IntVar(&o.Queue, "queue", 100, "diagnoses waiting before alerts are dropped")
	f.Float64Var(&rps, "rate", 1, "diagnoses started per second")
	f.IntVar(&o.Burst, "burst", 5, "rate burst")
	f.DurationVar(&o.Dedupe, "dedupe", 10*time.Minute, "do not diagnose the same pod again within this window")
	return c
}
