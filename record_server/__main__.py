from record_server.cli import main

raise SystemExit(main())
