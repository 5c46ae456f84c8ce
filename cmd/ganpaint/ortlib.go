package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ganpaint-go/ganpaint/inference"
)

// resolveORT is inference.ResolveLibrary that also takes the folder that
// holds the library, since that is what people often pass.
func resolveORT(flagValue string) (string, error) {
	if flagValue != "" {
		if st, err := os.Stat(flagValue); err == nil && st.IsDir() {
			for _, name := range []string{"libonnxruntime.so.1", "libonnxruntime.so", "libonnxruntime.dylib"} {
				p := filepath.Join(flagValue, name)
				if st, err := os.Stat(p); err == nil && !st.IsDir() {
					return p, nil
				}
			}
			return "", fmt.Errorf("--ort-lib %q is a directory without libonnxruntime.so.1 in it; give the library file", flagValue)
		}
	}
	return inference.ResolveLibrary(flagValue)
}
