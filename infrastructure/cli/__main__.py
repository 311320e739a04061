from infrastructure.cli import main

main()
