//go:build !linux

package rawio

import (
	"net"
	"os"
)

type conn struct{}

func newConn(net.Conn) *Conn { return nil }
func newFile(*os.File) *Conn { return nil }

// Read, Write and WriteMore are never called: New and NewFile return no Conn here.
func (c *Conn) Read(p []byte) (int, error)      { panic("rawio: no raw calls on this system") }
func (c *Conn) Write(p []byte) (int, error)     { panic("rawio: no raw calls on this system") }
func (c *Conn) WriteMore(p []byte) (int, error) { panic("rawio: no raw calls on this system") }
