using Xunit;

// Each class starts real broker processes and client processes; on a 2-core machine running them side by side
// only makes timeouts flaky. One class at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
