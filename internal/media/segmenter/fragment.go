package segmenter

import (
	"encoding/binary"
	"slices"
)

// An fMP4 fragment (moof + mdat) is written here by hand, in one allocation of its exact size at most, because a
// live node writes one per part for every stream: the reflective box marshaller of go-mp4, through
// mediacommon's fmp4.Part, was a fifth of the CPU of ingest. The bytes are the same as fmp4.Part's
// (TestFragmentMatchesMediacommon): moof(mfhd, traf(tfhd, tfdt, trun)...), mdat.

// trun flags (ISO/IEC 14496-12 §8.8.8).
const (
	trunDataOffset      = 0x001
	trunSampleDuration  = 0x100
	trunSampleSize      = 0x200
	trunSampleFlags     = 0x400
	trunSampleCTOffsets = 0x800
	// tfhd flag default-base-is-moof: data offsets count from the moof
	tfhdDefaultBaseIsMoof = 0x020000
	// sample_is_non_sync_sample in a sample's flags
	sampleNonSync = 1 << 16
)

// fragmentTrack is one track's samples of a fragment.
type fragmentTrack struct {
	id       uint32
	baseTime uint64
	samples  []*sample
}

// trunFlags returns the flags of a track's trun and the bytes of each of its entries.
func (ft *fragmentTrack) trunFlags() (flags uint32, entry int) {
	flags = trunDataOffset | trunSampleDuration | trunSampleSize
	for _, s := range ft.samples {
		if s.IsNonSyncSample {
			flags |= trunSampleFlags
		}
		if s.PTSOffset != 0 {
			flags |= trunSampleCTOffsets
		}
	}
	entry = 8
	if flags&trunSampleFlags != 0 {
		entry += 4
	}
	if flags&trunSampleCTOffsets != 0 {
		entry += 4
	}
	return flags, entry
}

// payloadSize is the bytes a sample takes in the mdat: its payload, or its access unit in AVCC form (a
// 4-byte length before each NAL unit).
func payloadSize(s *sample) int {
	if s.Payload != nil || len(s.au) == 0 {
		return len(s.Payload)
	}
	n := 0
	for _, nalu := range s.au {
		n += 4 + len(nalu)
	}
	return n
}

// marshalFragment returns the fragment of tracks with sequence number seq, written into dst's bytes
// when they are enough (a buffer reused from part to part), else into new ones.
func marshalFragment(dst []byte, seq uint32, tracks []fragmentTrack) []byte {
	moofSize := 8 + 16 // moof header, mfhd
	dataSize := 0
	for i := range tracks {
		_, entry := tracks[i].trunFlags()
		moofSize += 8 + 16 + 20 + 20 + entry*len(tracks[i].samples) // traf, tfhd, tfdt, trun
		for _, s := range tracks[i].samples {
			dataSize += payloadSize(s)
		}
	}
	b := slices.Grow(dst[:0], moofSize+8+dataSize)
	be := binary.BigEndian

	b = be.AppendUint32(b, uint32(moofSize))
	b = append(b, "moof"...)
	b = be.AppendUint32(b, 16)
	b = append(b, "mfhd"...)
	b = be.AppendUint32(b, 0) // version 0, no flags
	b = be.AppendUint32(b, seq)

	dataOffset := moofSize + 8 // from the moof's first byte to the first sample's
	for i := range tracks {
		ft := &tracks[i]
		flags, entry := ft.trunFlags()
		trunSize := 20 + entry*len(ft.samples)
		b = be.AppendUint32(b, uint32(8+16+20+trunSize))
		b = append(b, "traf"...)
		b = be.AppendUint32(b, 16)
		b = append(b, "tfhd"...)
		b = be.AppendUint32(b, tfhdDefaultBaseIsMoof) // version 0
		b = be.AppendUint32(b, ft.id)
		b = be.AppendUint32(b, 20)
		b = append(b, "tfdt"...)
		b = be.AppendUint32(b, 1<<24) // version 1: a 64-bit decode time
		b = be.AppendUint64(b, ft.baseTime)
		b = be.AppendUint32(b, uint32(trunSize))
		b = append(b, "trun"...)
		b = be.AppendUint32(b, 1<<24|flags) // version 1: signed composition offsets
		b = be.AppendUint32(b, uint32(len(ft.samples)))
		b = be.AppendUint32(b, uint32(dataOffset))
		for _, s := range ft.samples {
			size := payloadSize(s)
			b = be.AppendUint32(b, s.Duration)
			b = be.AppendUint32(b, uint32(size))
			if flags&trunSampleFlags != 0 {
				var sf uint32
				if s.IsNonSyncSample {
					sf = sampleNonSync
				}
				b = be.AppendUint32(b, sf)
			}
			if flags&trunSampleCTOffsets != 0 {
				b = be.AppendUint32(b, uint32(s.PTSOffset))
			}
			dataOffset += size
		}
	}

	b = be.AppendUint32(b, uint32(8+dataSize))
	b = append(b, "mdat"...)
	for i := range tracks {
		for _, s := range tracks[i].samples {
			if s.Payload != nil || len(s.au) == 0 {
				b = append(b, s.Payload...)
				continue
			}
			for _, nalu := range s.au {
				b = be.AppendUint32(b, uint32(len(nalu)))
				b = append(b, nalu...)
			}
		}
	}
	return b
}
