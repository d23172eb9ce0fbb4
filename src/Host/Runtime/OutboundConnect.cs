using System.Net.Sockets;
using DetKafka.Core.Abstractions;

namespace DetKafka.Host.Runtime;

/// <summary>The outbound half of both socket layers (<see cref="SocketNetwork"/>, <see cref="EventLoopNetwork"/>): a
/// connect to a peer, off the driver thread and bounded by a timeout. A failure is posted to the node as
/// OnConnectFailed and logged; a success returns the connected socket (Nagle off) for the layer to adopt.</summary>
internal static class OutboundConnect
{
    public static async Task<Socket?> ConnectAsync(ConnectionId id, string host, int port, int timeoutMs, BrokerDriver driver, Serilog.ILogger log)
    {
        Socket? socket = null;
        try
        {
            using var timeout = new CancellationTokenSource(timeoutMs);
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
            socket.NoDelay = true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException or ArgumentException)
        {
            socket?.Dispose();
            log.Debug("Connect {Connection} to {Host}:{Port} failed: {Error}", id, host, port, e.Message);
            driver.Post(new DriverInput(InputKind.Invoke, Action: node => node.OnConnectFailed(id)));
            return null;
        }
        log.Debug("Connected {Connection} to {Host}:{Port}", id, host, port);
        return socket;
    }
}
