// mkimage builds airlock's OCI image into a layout: mkimage BINARY CA_BUNDLE DIR ARCH.
package main

import (
	"fmt"
	"os"

	"github.com/airlock-dev/airlock/internal/image"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: mkimage BINARY CA_BUNDLE DIR ARCH")
		os.Exit(2)
	}
	img, err := image.Build(os.Args[1], os.Args[2], os.Args[3], os.Args[4])
	if err == nil {
		var d fmt.Stringer
		if h, herr := img.Digest(); herr == nil {
			d = h
		}
		fmt.Println(os.Args[3], d)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(3)
	}
}
