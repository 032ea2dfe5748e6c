from web2sky_bench.cli import main

main()
