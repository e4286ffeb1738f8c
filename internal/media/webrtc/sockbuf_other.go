//go:build !linux

package webrtc

import "net"

// growBuffers gives the shared UDP port large kernel buffers (capped by the system).
func growBuffers(c net.PacketConn, size int) {
	if uc, ok := c.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(size)
		_ = uc.SetWriteBuffer(size)
	}
}
