package pipeline

import "context"

// cluster creates the lab's cluster, or resumes a stopped or half-made one.
var clusterStep = Step{Name: "cluster",
	Inspect: func(ctx context.Context, c *Context) (bool, string, error) {
		ok, why := c.Provider.Healthy(ctx)
		return ok, why, nil
	},
	Apply: func(ctx context.Context, c *Context) (string, error) {
		existed, _ := c.Provider.Exists(ctx)
		if err := c.Provider.Create(ctx); err != nil {
			return "", err
		}
		note := ""
		if n, ok := c.Provider.(interface{ Note() string }); ok && n.Note() != "" {
			note = " (" + n.Note() + ")"
		}
		if existed {
			return "resumed " + c.Provider.Name() + " cluster" + note, nil
		}
		return "created " + c.Provider.Name() + " cluster" + note, nil
	}}
