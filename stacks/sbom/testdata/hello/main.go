// A tiny Go program with two module dependencies, built by the tests to
// check an SBOM against `go version -m`.
package main

import (
	"fmt"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/pmezard/go-difflib/difflib"
)

func main() { fmt.Println(cdx.SpecVersion1_6, difflib.SplitLines("a")) }
