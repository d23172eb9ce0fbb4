using DetKafka.Core.Storage;
using DetKafka.Properties.Records;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace DetKafka.Properties.Storage;

/// <summary>
/// A closed segment's index entries leave the heap and lookups read the index files (issue 11; STORAGE.md "On disk"):
/// every lookup through a released index must answer what the same lookup through the in-memory entries answered.
/// </summary>
public class ReleasedIndexTests
{
    [Fact]
    public void Lookups_through_a_released_index_equal_lookups_through_the_in_memory_one()
    {
        var gen = from interval in Gen.Elements(0, 1, 100, 250, 4096)
                  from indexBytes in Gen.Elements(24, 120, 10 << 20)
                  from batches in Gen.Choose(1, 30).SelectMany(n => Gen.ListOf(RecordGen.Batch(4), n))
                  from offsets in Gen.ListOf(Gen.Choose(-5, 130), 20)
                  from times in Gen.ListOf(Gen.Choose(-10, 100_010).Select(d => RecordGen.BaseTime + d), 20)
                  select (interval, indexBytes, batches, offsets, times);
        Prop.ForAll(Arb.From(gen), t =>
        {
            var kit = new StorageKit();
            // segment.bytes never rolls; a full index does (segment.index.bytes 24 or 120): the closed segments must
            // have released their entries, and the active one, still in memory, is the one compared.
            var config = StorageKit.Tiny(1 << 20, t.interval) with { SegmentIndexBytes = t.indexBytes };
            var log = kit.Open(config);
            foreach (var (batch, _, _) in t.batches) kit.AppendSynced(log, batch);
            for (int i = 0; i < log.Segments.Count - 1; i++)
                Assert.False(log.Segments[i].OffsetIndex.InMemory || log.Segments[i].TimeIndex.InMemory);
            var segment = log.Segments[^1];
            Assert.True(segment.OffsetIndex.InMemory && segment.TimeIndex.InMemory);

            var offsets = t.offsets.Select(o => segment.BaseOffset + o).Append(long.MaxValue).Append(segment.NextOffset - 1).ToList();
            var times = t.times.Append(long.MinValue).Append(long.MaxValue).Append(RecordGen.BaseTime).ToList();
            var before = Answers(segment, offsets, times);
            var entries = (segment.OffsetIndex.ReadEntries(), segment.TimeIndex.ReadEntries());

            segment.ReleaseIndexEntries();
            Assert.False(segment.OffsetIndex.InMemory || segment.TimeIndex.InMemory);
            Assert.Equal(entries.Item1, segment.OffsetIndex.ReadEntries());
            Assert.Equal(entries.Item2, segment.TimeIndex.ReadEntries());
            var after = Answers(segment, offsets, times);
            Assert.Equal(before, after);
            Assert.Equal(entries.Item1.Count, segment.OffsetIndex.Count);
        }).QuickCheckThrowOnFailure();
    }

    /// <summary>Everything a lookup answers, in order: offset-index entries, batch positions, time-index entries,
    /// the last time entry, and offsets for timestamps.</summary>
    private static List<string> Answers(LogSegment segment, List<long> offsets, List<long> times)
    {
        var answers = new List<string>();
        foreach (long o in offsets)
        {
            answers.Add($"lookup {o}: {segment.OffsetIndex.Lookup(o)}");
            if (o >= segment.BaseOffset && o < segment.NextOffset) answers.Add($"translate {o}: {segment.TranslateOffset(o)}");
        }
        foreach (long ts in times)
        {
            answers.Add($"below {ts}: {segment.TimeIndex.LookupBelow(ts)}");
            answers.Add($"by time {ts}: {segment.FindOffsetByTimestamp(ts, segment.BaseOffset)}");
        }
        answers.Add($"last time entry: {segment.TimeIndex.LastEntry}");
        return answers;
    }
}
