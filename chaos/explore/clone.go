package explore

import (
	"reflect"
	"unsafe"
)

// clone deep-copies w: every node's core, driver, applier, read queue
// and MemLog, the network and the ghosts. The core and driver keep
// their state in unexported fields, so the copy goes through reflection
// and unsafe (the only writes this package makes into them). Shared,
// not copied: functions (a write's done callback; they reach the node
// through the cell, see cell), the cell and the Config, and byte slices
// (entry payloads, encoded records and messages are never modified
// after they are made). The clone becomes the active world.
func (w *world) clone() *world {
	if w.cell.flat == nil {
		w.cell.flat = map[reflect.Type]bool{}
	}
	c := cloner{memo: map[uintptr]reflect.Value{}, flatTypes: w.cell.flat}
	src := reflect.ValueOf(w)
	dst := reflect.New(src.Type().Elem())
	c.memo[src.Pointer()] = dst
	c.copyInto(dst.Elem(), src.Elem())
	out := dst.Interface().(*world)
	out.activate()
	return out
}

// activate makes w the world the shared callbacks act on.
func (w *world) activate() { w.cell.w = w }

type cloner struct {
	memo      map[uintptr]reflect.Value // source pointer -> its copy
	flatTypes map[reflect.Type]bool     // see flat
}

var (
	cellType   = reflect.TypeOf(&cell{})
	configType = reflect.TypeOf(&Config{})
)

// writable returns v (addressable) with the read-only flag of an
// unexported field lifted.
func writable(v reflect.Value) reflect.Value {
	if v.CanSet() {
		return v
	}
	if !v.CanAddr() { // a map entry or an interface's value
		t := reflect.New(v.Type()).Elem()
		t.Set(v)
		return t
	}
	return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
}

// flat reports whether a value of type t holds no pointers, slices,
// maps, interfaces or functions: such values copy with one assignment.
func (c *cloner) flat(t reflect.Type) bool {
	if f, ok := c.flatTypes[t]; ok {
		return f
	}
	var f bool
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		f = true
	case reflect.Array:
		f = c.flat(t.Elem())
	case reflect.Struct:
		f = true
		for i := 0; i < t.NumField(); i++ {
			if !c.flat(t.Field(i).Type) {
				f = false
				break
			}
		}
	}
	c.flatTypes[t] = f
	return f
}

func (c *cloner) copyInto(dst, src reflect.Value) {
	dst, src = writable(dst), writable(src)
	if c.flat(src.Type()) {
		dst.Set(src)
		return
	}
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		if t := src.Type(); t == cellType || t == configType {
			dst.Set(src)
			return
		}
		if v, ok := c.memo[src.Pointer()]; ok {
			dst.Set(v)
			return
		}
		n := reflect.New(src.Type().Elem())
		c.memo[src.Pointer()] = n
		c.copyInto(n.Elem(), src.Elem())
		dst.Set(n)
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		if src.Type().Elem().Kind() == reflect.Uint8 {
			dst.Set(src) // immutable payloads
			return
		}
		n := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		if c.flat(src.Type().Elem()) {
			reflect.Copy(n, src)
			dst.Set(n)
			return
		}
		for i := 0; i < src.Len(); i++ {
			c.copyInto(n.Index(i), src.Index(i))
		}
		dst.Set(n)
	case reflect.Map:
		if src.IsNil() {
			return
		}
		n := reflect.MakeMapWithSize(src.Type(), src.Len())
		it := src.MapRange()
		kt, vt := src.Type().Key(), src.Type().Elem()
		for it.Next() {
			k := reflect.New(kt).Elem()
			c.copyInto(k, it.Key())
			v := reflect.New(vt).Elem()
			c.copyInto(v, it.Value())
			n.SetMapIndex(k, v)
		}
		dst.Set(n)
	case reflect.Struct:
		for i := 0; i < src.NumField(); i++ {
			c.copyInto(dst.Field(i), src.Field(i))
		}
	case reflect.Array:
		for i := 0; i < src.Len(); i++ {
			c.copyInto(dst.Index(i), src.Index(i))
		}
	case reflect.Interface:
		if src.IsNil() {
			return
		}
		e := src.Elem()
		n := reflect.New(e.Type()).Elem()
		c.copyInto(n, e)
		dst.Set(n)
	default:
		// Scalars, strings, functions (shared), channels.
		dst.Set(src)
	}
}
