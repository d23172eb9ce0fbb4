return DetKafka.Host.Cli.Run(args);
