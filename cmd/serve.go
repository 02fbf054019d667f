package cmd

import "github.com/spf13/cobra"

func newServe(g *globals, kubeconfig *string) *cobra.Command {
	return &cobra.Command{Use: "serve", Hidden: true}
}
