using System.CommandLine;
using System.Globalization;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Host.Tools;

namespace DetKafka.Host.Commands;

/// <summary><c>detkafka cluster info</c>: cluster id, controller, brokers (DescribeCluster, else Metadata) and the API
/// versions the broker serves next to the ones this client speaks.</summary>
public static class ClusterCommand
{
    public static Command Create()
    {
        var cluster = new Command("cluster", "Inspect the cluster.");
        var info = new Command("info", "Cluster id, controller, brokers and the API versions the broker serves.");
        var flags = ClientFlags.AddTo(info);
        info.SetAction(parse => CliOutput.Run(parse, p =>
        {
            var output = flags.Output(p);
            using var session = flags.Open(p);
            session.WaitForMetadata();
            int node = session.Admin.TargetNode;
            session.RunUntil(() => session.Client.Ready(node), "connect");
            var versions = session.Client.BrokerApiVersions(node)!;

            string? clusterId;
            int controller;
            List<(int Id, string Host, int Port, string? Rack)> brokers;
            if (versions.ContainsKey(ApiKey.DescribeCluster))
            {
                var d = session.Call<DescribeClusterResponse>(ApiKey.DescribeCluster, new DescribeClusterRequest());
                if (d.ErrorCode != ErrorCode.None) throw new CliException("DescribeCluster: " + CliSession.Describe(d.ErrorCode, d.ErrorMessage));
                clusterId = d.ClusterId;
                controller = d.ControllerId;
                brokers = d.Brokers.Select(b => (b.BrokerId, b.Host, b.Port, b.Rack)).ToList();
            }
            else
            {
                var m = session.Metadata([]);
                clusterId = m.ClusterId;
                controller = m.ControllerId;
                brokers = m.Brokers.Select(b => (b.NodeId, b.Host, b.Port, b.Rack)).ToList();
            }
            var apis = versions.OrderBy(kv => (short)kv.Key).Select(kv =>
            {
                var mine = KafkaClient.SupportedVersions(kv.Key);
                return new
                {
                    key = (short)kv.Key,
                    name = Enum.IsDefined(kv.Key) ? kv.Key.ToString() : "Unknown",
                    min_version = kv.Value.Min,
                    max_version = kv.Value.Max,
                    client = mine is { } m2 ? $"{m2.Min}-{m2.Max}" : null,
                };
            }).ToList();

            if (output.IsJson)
            {
                output.WriteJson(new
                {
                    cluster_id = clusterId,
                    controller,
                    brokers = brokers.Select(b => new { id = b.Id, host = b.Host, port = b.Port, rack = b.Rack }),
                    apis,
                });
                return 0;
            }
            output.WriteTable("CLUSTER", ["CLUSTER-ID", "CONTROLLER"], [[clusterId ?? "", controller.ToString(CultureInfo.InvariantCulture)]]);
            output.WriteTable("BROKERS", ["ID", "HOST", "PORT", "RACK"], brokers.Select(b => new[]
            {
                b.Id.ToString(CultureInfo.InvariantCulture) + (b.Id == controller ? "*" : ""), b.Host,
                b.Port.ToString(CultureInfo.InvariantCulture), b.Rack ?? "",
            }));
            output.WriteTable("API VERSIONS (broker " + node.ToString(CultureInfo.InvariantCulture) + ")", ["KEY", "API", "BROKER", "CLIENT"],
                apis.Select(a => new[]
                {
                    a.key.ToString(CultureInfo.InvariantCulture), a.name, $"{a.min_version}-{a.max_version}", a.client ?? "",
                }));
            return 0;
        }));
        cluster.Subcommands.Add(info);
        return cluster;
    }
}
