// The HTTP gateway: path and trustless gateway, website hosting. Format: formats/gateway.md.
import NIOCore
