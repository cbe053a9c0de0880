// mkimage builds airlock's OCI image into a layout with ko, on an offline
// base: mkimage KO CA_BUNDLE DIR ARCH (run from the checkout; make image).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/airlock-dev/airlock/internal/image"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: mkimage KO CA_BUNDLE DIR ARCH")
		return 2
	}
	repo, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		return 3
	}
	img, err := image.Build(context.Background(), image.Options{Ko: args[0], Repo: repo, CABundle: args[1], Dir: args[2], Arch: args[3], Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		return 3
	}
	d, err := img.Digest()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		return 3
	}
	fmt.Println(args[2], d)
	return 0
}
