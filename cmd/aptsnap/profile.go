package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

// startProfiles starts the profiles the environment asks for, for
// benchmarks (bench/): APTSNAP_CPUPROFILE=FILE writes a CPU profile of the
// whole command, APTSNAP_MEMPROFILE=FILE a heap profile (allocations
// included) when it ends, APTSNAP_TRACE=FILE an execution trace (where
// the wall-clock time goes: syscalls, waits; `go tool trace`). The returned
// function writes them.
func startProfiles() (stop func()) {
	cpu, mem, tr := os.Getenv("APTSNAP_CPUPROFILE"), os.Getenv("APTSNAP_MEMPROFILE"), os.Getenv("APTSNAP_TRACE")
	var f, t *os.File
	if tr != "" {
		var err error
		if t, err = os.Create(tr); err != nil {
			fmt.Fprintln(os.Stderr, "aptsnap: APTSNAP_TRACE:", err)
		} else if err := trace.Start(t); err != nil {
			fmt.Fprintln(os.Stderr, "aptsnap: APTSNAP_TRACE:", err)
			t.Close()
			t = nil
		}
	}
	if cpu != "" {
		var err error
		if f, err = os.Create(cpu); err != nil {
			fmt.Fprintln(os.Stderr, "aptsnap: APTSNAP_CPUPROFILE:", err)
		} else if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "aptsnap: APTSNAP_CPUPROFILE:", err)
			f.Close()
			f = nil
		}
	}
	return func() {
		if t != nil {
			trace.Stop()
			t.Close()
		}
		if f != nil {
			pprof.StopCPUProfile()
			f.Close()
		}
		if mem != "" {
			m, err := os.Create(mem)
			if err != nil {
				fmt.Fprintln(os.Stderr, "aptsnap: APTSNAP_MEMPROFILE:", err)
				return
			}
			runtime.GC()
			pprof.Lookup("allocs").WriteTo(m, 0)
			m.Close()
		}
	}
}
