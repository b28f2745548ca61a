from localqwen.cli import main

raise SystemExit(main())
