using System.CommandLine;
using System.Globalization;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Host.Tools;

namespace DetKafka.Host.Commands;

/// <summary><c>detkafka records delete TOPIC --before OFFSET</c>: move partitions' log start offset forward
/// (DeleteRecords), as kafka-delete-records.sh does.</summary>
public static class RecordsCommand
{
    public static Command Create()
    {
        var records = new Command("records", "Manage records.");
        var delete = new Command("delete", "Delete the records before an offset (the log start offset moves up to it).");
        var topic = new Argument<string>("topic") { Description = "Topic" };
        var partition = new Option<int[]>("--partition", "-p") { Description = "Partition (repeatable; default all)", HelpName = "n" };
        var before = new Option<string>("--before")
        {
            Description = "Delete records below this offset; 'end' deletes every record (the high watermark)",
            HelpName = "offset",
            Required = true,
        };
        delete.Arguments.Add(topic);
        delete.Options.Add(partition);
        delete.Options.Add(before);
        var flags = ClientFlags.AddTo(delete);
        delete.SetAction(parse => CliOutput.Run(parse, p =>
        {
            var output = flags.Output(p);
            var name = p.GetValue(topic)!;
            var beforeText = p.GetValue(before)!.Trim();
            long offset;
            if (beforeText == "end") offset = -1; // DeleteRecords: -1 means the high watermark
            else if (!long.TryParse(beforeText, NumberStyles.None, CultureInfo.InvariantCulture, out offset))
                throw new CliException($"--before: '{beforeText}' is not an offset or 'end'");
            using var session = flags.Open(p);
            var metadata = session.Metadata([name]);
            var t = metadata.Topics.First();
            if (t.ErrorCode != ErrorCode.None) throw new CliException($"topic '{name}': {CliSession.ErrorName(t.ErrorCode)}");
            var wanted = p.GetValue(partition) is { Length: > 0 } chosen ? chosen.Distinct().Order().ToList() : t.Partitions.Select(x => x.PartitionIndex).Order().ToList();
            foreach (var x in wanted)
                if (x < 0 || x >= t.Partitions.Count) throw new CliException($"--partition: topic '{name}' has no partition {x}");
            var response = session.Call<DeleteRecordsResponse>(ApiKey.DeleteRecords, new DeleteRecordsRequest
            {
                TimeoutMs = session.TimeoutMs,
                Topics =
                [
                    new DeleteRecordsRequest.DeleteRecordsTopic
                    {
                        Name = name,
                        Partitions = wanted.Select(x => new DeleteRecordsRequest.DeleteRecordsPartition { PartitionIndex = x, Offset = offset }).ToList(),
                    },
                ],
            });
            var rows = response.Topics.SelectMany(r => r.Partitions.Select(x => (Topic: r.Name, x.PartitionIndex, x.LowWatermark, x.ErrorCode)))
                .OrderBy(r => r.PartitionIndex).ToList();
            if (output.IsJson)
                output.WriteJson(rows.Select(r => new
                {
                    topic = r.Topic, partition = r.PartitionIndex, low_watermark = r.LowWatermark,
                    error = r.ErrorCode == ErrorCode.None ? null : CliSession.ErrorName(r.ErrorCode),
                }));
            else
                output.WriteTable(null, ["TOPIC", "PARTITION", "LOW-WATERMARK", "STATUS"], rows.Select(r => new[]
                {
                    r.Topic, r.PartitionIndex.ToString(CultureInfo.InvariantCulture), r.LowWatermark.ToString(CultureInfo.InvariantCulture),
                    r.ErrorCode == ErrorCode.None ? "OK" : CliSession.ErrorName(r.ErrorCode),
                }));
            int failed = 0;
            foreach (var r in rows.Where(r => r.ErrorCode != ErrorCode.None))
            {
                failed++;
                output.Error.WriteLine($"detkafka: {r.Topic}-{r.PartitionIndex}: {CliSession.ErrorName(r.ErrorCode)}");
            }
            return failed == 0 ? 0 : 1;
        }));
        records.Subcommands.Add(delete);
        return records;
    }
}
