package ingest

import (
	"errors"

	"github.com/abema/go-mp4"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

type (
	amf0Object    = amf0.Object
	amf0ECMAArray = amf0.ECMAArray
	hvccArray     = mp4.HEVCNaluArray
)

// unmarshalAVCC splits a length-prefixed access unit; an empty one is not an error.
func unmarshalAVCC(b []byte) ([][]byte, error) {
	var au h264.AVCC
	if err := au.Unmarshal(b); err != nil {
		if errors.Is(err, h264.ErrAVCCNoNALUs) {
			return nil, nil
		}
		return nil, err
	}
	return au, nil
}
