package webrtc

import (
	"net"
	"syscall"
)

// growBuffers gives the shared UDP port large kernel buffers: every session's packets pass through this
// one socket, and a burst while the node is busy must wait in the kernel rather than be dropped there.
// Without CAP_NET_ADMIN the kernel caps the size at net.core.rmem_max / wmem_max (see docs/webrtc.md).
func growBuffers(c net.PacketConn, size int) {
	uc, ok := c.(*net.UDPConn)
	if !ok {
		return
	}
	_ = uc.SetReadBuffer(size)
	_ = uc.SetWriteBuffer(size)
	raw, err := uc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		// past the system's caps where the process may (root, or CAP_NET_ADMIN); an error changes nothing
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size)
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, size)
	})
}
