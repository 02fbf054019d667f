// Command lab builds a GPU-backed, air-gap-capable Kubernetes lab on one
// workstation and diagnoses what breaks in it. See README.md.
package main

import (
	"os"

	"lab.dev/lab/cmd"
)

func main() {
	os.Exit(cmd.Execute())
}
