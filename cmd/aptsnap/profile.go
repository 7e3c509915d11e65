package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiles starts the profiles the environment asks for, for
// benchmarks (bench/): APTSNAP_CPUPROFILE=FILE writes a CPU profile of the
// whole command, APTSNAP_MEMPROFILE=FILE a heap profile (allocations
// included) when it ends. The returned function writes them.
func startProfiles() (stop func()) {
	cpu, mem := os.Getenv("APTSNAP_CPUPROFILE"), os.Getenv("APTSNAP_MEMPROFILE")
	var f *os.File
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
