package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func init() {
	subcommands["health"] = subcommand{
		summary: "check a running server's /healthz (or /readyz); for container health checks",
		run:     runHealth,
	}
}

// localURL turns a listen address into a URL this machine can reach: an
// unspecified host (0.0.0.0, [::], "") becomes loopback.
func localURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

func runHealth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("health", flag.ContinueOnError)
	fl.SetOutput(stderr)
	defAddr := "127.0.0.1:8080"
	if v := os.Getenv(envName("addr")); v != "" {
		defAddr = v
	}
	addr := fl.String("addr", defAddr, "the server's listen address (env "+envName("addr")+", as for serve)")
	ready := fl.Bool("ready", false, "check /readyz (model loaded, not draining) instead of /healthz")
	timeout := fl.Duration("timeout", 3*time.Second, "give up after this long")
	if err := parseArgs(fl, args); err != nil {
		return err
	}
	base, err := localURL(*addr)
	if err != nil {
		return err
	}
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %v", base+path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", base+path, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "%s: %s\n", base+path, strings.TrimSpace(string(body)))
	return nil
}
