package cmd

import (
	"time"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
	"lab.dev/lab/core/ui"
)

func newServe(g *globals) *cobra.Command {
	o := action.NewServe(&g.action)
	c := command("serve", "Receive Alertmanager webhooks (POST /alerts) and diagnose the alerted pods; /metrics, /healthz, /readyz", cobra.NoArgs, func([]string) error { return g.run(o.Run) })
	f := c.Flags()
	f.StringVar(&o.Listen, "listen", "", "address to listen on (default 127.0.0.1:8080; :8080 with --in-cluster)")
	f.StringVar(&o.Reports, "reports", "", "folder to write each report into (Markdown + JSON)")
	f.StringVar(&o.Incidents, "incidents", "", "incident memory file (default: beside the lab's state on this host; none in a pod unless given)")
	f.StringVar(&o.Slack, "slack-webhook", "", "Slack-compatible incoming webhook URL for a summary per report")
	f.BoolVar(&o.NoLLM, "no-llm", false, "rules only")
	f.StringVar(&o.Endpoint, "llm-endpoint", "", "Ollama URL (default agent.llm.endpoint; in the cluster lab's manifest passes the Ollama Service)")
	f.StringVar(&o.Model, "model", "", "model (default agent.llm.model, else the lab's)")
	f.StringVar(&o.TokenFile, "token-file", "", "file holding the bearer token POST /alerts must carry (in the cluster: Secret lab-agent-webhook, mounted); else $LAB_AGENT_WEBHOOK_TOKEN")
	f.BoolVar(&o.NoAuth, "insecure-no-auth", false, "accept alerts from anyone (local experiments only)")
	f.StringVar(&o.TLSCert, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
	f.StringVar(&o.TLSKey, "tls-key", "", "the certificate's private key (PEM)")
	f.BoolVar(&g.action.InPod, "in-cluster", false, "use the pod's ServiceAccount (when running in the cluster)")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "diagnoses at once")
	f.IntVar(&o.Queue, "queue", o.Queue, "alerts accepted and not yet reported; beyond, POST /alerts answers 503 with Retry-After and Alertmanager retries")
	f.StringVar(&o.JournalDir, "journal", "", "folder keeping accepted alerts until reported, across restarts (default: beside the labs on this host; in a pod, required: lab's manifest mounts a volume); - for memory only")
	f.DurationVar(&o.DrainTimeout, "drain-timeout", o.DrainTimeout, "on SIGTERM: how long diagnoses in flight may finish (the rest stays in the journal)")
	f.IntVar(&o.Attempts, "attempts", o.Attempts, "tries of one alert's diagnosis (an agent crash during one counts) before it is given up")
	f.StringSliceVar(&o.WatchNamespaces, "namespaces", nil, "namespaces whose pods' alerts are diagnosed and whose restarts are counted, comma-separated (default lab.yaml agent.namespaces; in the cluster lab's manifest passes them)")
	f.BoolVar(&o.ShowStatus, "status", false, "print the running server's intake (at --listen): queued, in flight, reported, failed, retried, dropped, oldest queued age")
	outputFlag(c, &o.Output, ui.Text, "", ui.Text, ui.JSON)
	f.StringVar(&o.LogFormat, "log-format", "", "events (one per line, each with its trace id): text (logfmt) or json; with json the reports on stdout are JSON events too (default $"+ui.LogFormatEnv+", else text)")
	f.Float64Var(&o.RPS, "rate", o.RPS, "diagnoses started per second")
	f.IntVar(&o.Burst, "burst", o.Burst, "rate burst")
	f.DurationVar(&o.Dedupe, "dedupe", o.Dedupe, "do not diagnose the same pod again within this window (0: diagnose every alert)")
	f.DurationVar(&o.PredictEvery, "predict-every", 5*time.Minute, "run saturation predictions this often and alert once per predicted incident (0: never; needs the lab's Prometheus or --prometheus)")
	f.DurationVar(&o.Predict.Horizon, "horizon", 0, "predictions: alert on what runs out within this time (default lab.yaml agent.prediction.horizon, 2h)")
	f.DurationVar(&o.Predict.Window, "window", 0, "predictions: history each trend is fitted on (default lab.yaml agent.prediction.window, 1h)")
	f.StringVar(&o.Prometheus, "prometheus", "", "predictions: Prometheus URL (default: the lab's; in the cluster its Service)")
	return c
}
