package service

import "fmt"

// sniffLen is how many leading bytes sniff looks at.
const sniffLen = 4096

// sniff refuses what is evidently not a video container. It only looks at signatures; whether the file
// really decodes is ffprobe's verdict during processing.
func sniff(b []byte) error {
	if kind := containerOf(b); kind != "" {
		return nil
	}
	return fmt.Errorf("%w: the first bytes match no video container nagare reads (MP4/MOV, Matroska/WebM, MPEG-TS, MPEG-PS, FLV, AVI, Ogg)", errNotVideo)
}

// containerOf names the container whose signature starts b, or "".
func containerOf(b []byte) string {
	has := func(off int, sig string) bool { return len(b) >= off+len(sig) && string(b[off:off+len(sig)]) == sig }
	switch {
	case has(4, "ftyp") || has(4, "moov") || has(4, "mdat") || has(4, "free") || has(4, "wide") || has(4, "skip"):
		return "mp4"
	case has(0, "\x1a\x45\xdf\xa3"):
		return "matroska"
	case has(0, "FLV\x01"):
		return "flv"
	case has(0, "RIFF") && has(8, "AVI "):
		return "avi"
	case has(0, "OggS"):
		return "ogg"
	case has(0, "\x00\x00\x01\xba"):
		return "mpeg-ps"
	case syncEvery(b, 0, 188) || syncEvery(b, 4, 192):
		return "mpeg-ts"
	}
	return ""
}

// syncEvery reports MPEG-TS sync bytes (0x47) at off and every n bytes after it, for the first three
// packets that b holds: n = 188 for TS, 192 for M2TS (a 4-byte prefix before each packet). b must hold one
// whole packet: a file shorter than that is no stream, whatever its first byte ("G...").
func syncEvery(b []byte, off, n int) bool {
	if len(b) < off+188 {
		return false
	}
	for i, k := off, 0; i < len(b) && k < 3; i, k = i+n, k+1 {
		if b[i] != 0x47 {
			return false
		}
	}
	return true
}
