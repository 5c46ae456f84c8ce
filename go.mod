module github.com/ganpaint-go/ganpaint

go 1.26.8

require (
	github.com/a-h/templ v0.3.1100 // indirect
	github.com/go-chi/chi/v5 v5.5.0 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/yalue/onnxruntime_go v1.27.0 // indirect
)
