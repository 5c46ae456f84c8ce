package main

import (
	"log/slog"
	"time"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/report"
	"github.com/ganpaint-go/ganpaint/server"
	"github.com/ganpaint-go/ganpaint/web"
)

// extraConfig selects what `serve` offers besides the painter.
type extraConfig struct {
	// API is the REST API's configuration; nil serves none.
	API *server.RefAPIConfig
	// Report serves the dissection report and the unit editor at /report/.
	Report bool
	// ReportCacheBytes bounds the report's rendered images in memory.
	ReportCacheBytes int64
	// RequestTimeout bounds one API request and one report image render;
	// serve sets it inside the HTTP write timeout (0: the packages' defaults).
	RequestTimeout time.Duration
}

// addExtras builds the REST API and the report from the model and its
// dissection and hands them to the server. The API's unit images are the
// report's strips, so /api/units links work only with the report on.
// links places the model's report (modelLinks).
func addExtras(deps *server.ModelDeps, ex extraConfig, logger *slog.Logger, m *inference.Model, res *dissection.Results, assets *web.Assets, links func(version string) report.Links) error {
	var unitURL func(layer string, unit int) string
	if ex.Report {
		rep, err := report.New(m.Manifest(), m.Layers(), res)
		if err != nil {
			return err
		}
		links := links(rep.Version)
		imgs, err := report.NewImages(rep, m, report.ImagesConfig{CacheBytes: ex.ReportCacheBytes})
		if err != nil {
			return err
		}
		pages, err := web.NewReport(rep, links, assets)
		if err != nil {
			return err
		}
		h, err := server.NewReportHandler(pages, imgs, rep.Version, ex.RequestTimeout, logger)
		if err != nil {
			return err
		}
		deps.Report = h
		unitURL = func(layer string, unit int) string { return links.Image(report.StripKey(layer, unit)) }
	}
	if ex.API != nil {
		cfg := *ex.API
		if cfg.Timeout == 0 {
			cfg.Timeout = ex.RequestTimeout
		}
		api, err := server.NewRefAPI(cfg, server.RefAPIDeps{Model: m, Results: res, UnitImageURL: unitURL})
		if err != nil {
			return err
		}
		deps.API = api
	}
	return nil
}
