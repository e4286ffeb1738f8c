package api

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/store"
)

// fill sets every exported field of v, recursively, to a value that is not zero.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int64:
		if v.Type() == reflect.TypeFor[time.Duration]() {
			v.SetInt(int64(1500 * time.Millisecond))
			return
		}
		v.SetInt(7)
	case reflect.Uint64:
		v.SetUint(7)
	case reflect.Float64:
		v.SetFloat(7.5)
	case reflect.Bool:
		v.SetBool(true)
	default:
		panic("fill: add " + v.Kind().String())
	}
}

func filled[T any]() T {
	var v T
	fill(reflect.ValueOf(&v).Elem())
	return v
}

// requireAllSet fails for every exported field of v, recursively, left at its zero value.
func requireAllSet(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	if v.Kind() == reflect.Struct && v.Type() != reflect.TypeFor[time.Time]() {
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				requireAllSet(t, path+"."+f.Name, v.Field(i))
			}
		}
		return
	}
	require.False(t, v.IsZero(), "%s is not converted", path)
	if v.Kind() == reflect.Slice {
		requireAllSet(t, path+"[0]", v.Index(0))
	}
}

// TestConversionsMissNoField: every field of the native wire types is filled from the store's records,
// so a field added to apitypes without its conversion fails here rather than reaching clients as zero.
func TestConversionsMissNoField(t *testing.T) {
	for name, out := range map[string]any{
		"ScalePolicy":    policyToAPI(filled[store.ScalePolicy]()),
		"LaunchConfig":   launchConfigToAPI(filled[store.LaunchConfig]()),
		"NodeGroup":      groupToAPI(filled[store.NodeGroup]()),
		"Node":           nodeToAPI(filled[store.Node]()),
		"NodeEvent":      nodeEventToAPI(filled[store.NodeEvent]()),
		"Instance":       instanceToAPI(filled[cloud.Instance]()),
		"Stream":         liveStreamToAPI(filled[store.StreamRecord](), filled[carried]()),
		"AlarmThreshold": thresholdToAPI(filled[store.AlarmThreshold]()),
		"ScaleEvent":     scaleEventToAPI(filled[store.ScaleEvent]()),
	} {
		requireAllSet(t, name, reflect.ValueOf(out))
	}

	// what clients send comes back the same (the times of a request are the manager's to set)
	p := filled[apitypes.ScalePolicy]()
	p.CreatedAt, p.UpdatedAt = time.Time{}, time.Time{}
	require.Equal(t, p, policyToAPI(policyFromAPI(p)))
	c := filled[apitypes.LaunchConfig]()
	c.CreatedAt, c.UpdatedAt = time.Time{}, time.Time{}
	require.Equal(t, c, launchConfigToAPI(launchConfigFromAPI(c)))
	g := filled[apitypes.NewNodeGroup]()
	sg := newGroupFromAPI(g)
	require.Equal(t, g, apitypes.NewNodeGroup{Name: sg.Name, Regions: sg.Regions, LaunchConfig: sg.LaunchConfig, ScalePolicy: sg.ScalePolicy})
}
